// The sign-in pages: plain HTML forms that work without JavaScript, each with a label per
// field and the CSRF token in a hidden field. Every value shown is escaped.
import type { IdentityProvider } from "./config.ts";
import { esc, page } from "./pages.ts";

const hidden = (fields: Record<string, string>) => Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");

/** A POST form with the CSRF token; `inner` holds its inputs and buttons. */
function form(action: string, csrf: string, fields: Record<string, string>, inner: string): string {
  return `<form method="post" action="${esc(action)}">${hidden({ csrf, ...fields })}${inner}</form>`;
}

const button = (label: string, name?: string, value?: string) => `<p><button type="submit"${name ? ` name="${esc(name)}" value="${esc(value ?? "")}"` : ""}>${esc(label)}</button></p>`;

const notice = (text?: string, role: "alert" | "status" = "alert") => (text ? `<p role="${role}"><strong>${esc(text)}</strong></p>` : "");

export function signInPage(o: { edge: string; providers: IdentityProvider[]; returnTo: string; csrf: string; error?: string; email?: string }): Response {
  const parts = o.providers.map((p) =>
    p.type === "oidc"
      ? form(`/sign-in/oidc/${p.name}`, o.csrf, { return: o.returnTo }, button(`Sign in with ${p.displayName}`))
      : form(
          `/sign-in/email`,
          o.csrf,
          { return: o.returnTo, idp: p.name },
          `<p><label for="email-${esc(p.name)}">E-mail address</label><br>
<input id="email-${esc(p.name)}" name="email" type="email" autocomplete="email" required value="${esc(o.email ?? "")}"></p>${button("Send me a PIN")}`,
        ),
  );
  return page(`Sign in to ${o.edge}`, `<h1>Sign in to ${esc(o.edge)}</h1>${notice(o.error)}${parts.join("\n<hr>\n")}`, o.error ? 400 : 200);
}

export function pinPage(o: { email: string; pinId: string; returnTo: string; csrf: string; minutes: number; error?: string }): Response {
  return page(
    "Enter your PIN",
    `<h1>Enter your PIN</h1>${notice(o.error)}
<p>We sent a PIN to <strong>${esc(o.email)}</strong>. It works once, for ${o.minutes} minutes.</p>
${form(
  "/sign-in/pin",
  o.csrf,
  { pin_id: o.pinId, return: o.returnTo },
  `<p><label for="pin">PIN</label><br><input id="pin" name="pin" autocapitalize="characters" spellcheck="false" maxlength="16" autocomplete="one-time-code" required></p>${button("Sign in")}`,
)}
<p><a href="/sign-in?return=${encodeURIComponent(o.returnTo)}">Send a new PIN</a></p>`,
    o.error ? 400 : 200,
  );
}

export type Who = { email: string; idp: string };

const signedInAs = (who: Who, csrf: string) =>
  `<p>You are signed in as <strong>${esc(who.email)}</strong> (with ${esc(who.idp)}).</p>${form("/sign-out", csrf, {}, button("Sign out"))}`;

export function enterCodePage(csrf: string, error?: string): Response {
  return page(
    "Enter the code",
    `<h1>Enter the code from your terminal</h1>${notice(error)}
<form method="get" action="/device"><p><label for="user_code">Code</label><br><input id="user_code" name="user_code" autocomplete="off" required></p>${button("Continue")}</form>`,
    error ? 400 : 200,
  );
}

export function confirmAppPage(o: { userCode: string; app: string; ip: string; at: number; who: Who; csrf: string }): Response {
  return page(
    `Sign in to ${o.app}`,
    `<h1>Sign in to <code>${esc(o.app)}</code>?</h1>
<p>A wicket command asks to connect to <strong>${esc(o.app)}</strong> as you.</p>
<dl><dt>Code</dt><dd><code id="user-code">${esc(o.userCode)}</code></dd>
<dt>Application</dt><dd><code>${esc(o.app)}</code></dd>
<dt>Requested from</dt><dd><code>${esc(o.ip)}</code> at ${esc(new Date(o.at).toISOString())}</dd></dl>
<p>Approve only if your terminal shows this same code and you started this yourself.</p>
${form("/device", o.csrf, { user_code: o.userCode }, button("Approve", "action", "approve") + button("Deny", "action", "deny"))}
${signedInAs(o.who, o.csrf)}`,
  );
}

export function pickZonePage(o: { userCode: string; zones: string[]; ip: string; at: number; who: Who; csrf: string }): Response {
  const choices = o.zones.map((z) => button(`Connect servers to ${z}`, "zone", z)).join("");
  return page(
    "Connect a server",
    `<h1>Connect a server to this edge</h1>
<p><code>wicket tunnel login</code> asks for a credential that lets a server serve hostnames in one zone.</p>
<dl><dt>Code</dt><dd><code id="user-code">${esc(o.userCode)}</code></dd>
<dt>Requested from</dt><dd><code>${esc(o.ip)}</code> at ${esc(new Date(o.at).toISOString())}</dd></dl>
<p>Pick the zone, if your terminal shows this same code:</p>
${form("/device", o.csrf, { user_code: o.userCode, action: "approve" }, choices)}
${form("/device", o.csrf, { user_code: o.userCode }, button("Deny", "action", "deny"))}
${signedInAs(o.who, o.csrf)}`,
  );
}

export function deniedPage(o: { sentence: string; who: Who; csrf: string }): Response {
  return page("Access denied", `<h1>Access denied</h1><p role="alert" id="reason">${esc(o.sentence)}</p>${signedInAs(o.who, o.csrf)}`, 403);
}

export function donePage(title: string, text: string): Response {
  return page(title, `<h1>${esc(title)}</h1><p role="status">${esc(text)}</p>`);
}

export function errorPage(title: string, text: string, status = 400): Response {
  return page(title, `<h1>${esc(title)}</h1><p role="alert">${esc(text)}</p>`, status);
}

const inWords = (s: number) => (s < 90 ? `${s} ${s === 1 ? "second" : "seconds"}` : `${Math.ceil(s / 60)} minutes`);

/** A request a rate limit refused: 429, with Retry-After in seconds and the same wait in words. */
export function tooManyPage(text: string, retryAfterSeconds: string): Response {
  const res = errorPage("Too many attempts", `${text} Try again in ${inWords(Number(retryAfterSeconds))}.`, 429);
  res.headers.set("retry-after", retryAfterSeconds);
  return res;
}

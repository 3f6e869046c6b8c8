// The sign-in pages: plain HTML forms that work without JavaScript, each with a label per
// field and the CSRF token in a hidden field. Every value shown is escaped. Each page names who
// is asking (`Site`: the organisation's name and logo) in the frame lib/edge/http/pages.ts draws.
import type { IdentityProvider } from "../config/file.ts";
import { errorPage, esc, page, type Site } from "../http/pages.ts";

const hidden = (fields: Record<string, string>) => Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");

/** A POST form with the CSRF token; `inner` holds its inputs and buttons. */
function form(action: string, csrf: string, fields: Record<string, string>, inner: string, cls?: string): string {
  return `<form method="post" action="${esc(action)}"${cls ? ` class="${cls}"` : ""}>${hidden({ csrf, ...fields })}${inner}</form>`;
}

type ButtonKind = "primary" | "secondary" | "link";
const button = (label: string, o: { name?: string; value?: string; kind?: ButtonKind; wide?: boolean } = {}) => {
  const cls = [o.kind && o.kind !== "primary" ? o.kind : "", o.wide ? "wide" : ""].filter(Boolean).join(" ");
  return `<button type="submit"${cls ? ` class="${cls}"` : ""}${o.name ? ` name="${esc(o.name)}" value="${esc(o.value ?? "")}"` : ""}>${esc(label)}</button>`;
};
const actions = (...buttons: string[]) => `<div class="actions">${buttons.join("")}</div>`;

const notice = (text?: string, role: "alert" | "status" = "alert") => (text ? `<p class="notice${role === "status" ? " status" : ""}" role="${role}">${esc(text)}</p>` : "");

const field = (id: string, label: string, input: string) => `<div class="field"><label for="${esc(id)}">${esc(label)}</label>${input}</div>`;

export function signInPage(site: Site, o: { providers: IdentityProvider[]; returnTo: string; csrf: string; error?: string; email?: string }): Response {
  const parts = o.providers.map((p) =>
    p.type === "oidc"
      ? form(`/sign-in/oidc/${p.name}`, o.csrf, { return: o.returnTo }, actions(button(`Sign in with ${p.displayName}`, { wide: true })))
      : form(
          `/sign-in/email`,
          o.csrf,
          { return: o.returnTo, idp: p.name },
          field(`email-${p.name}`, "E-mail address", `<input id="email-${esc(p.name)}" name="email" type="email" autocomplete="email" required value="${esc(o.email ?? "")}">`) +
            actions(button("Send me a PIN", { wide: true, kind: o.providers.length > 1 ? "secondary" : "primary" })) +
            `<p class="muted">We e-mail you a PIN to type on the next page.</p>`,
        ),
  );
  const title = `Sign in to ${site.name}`;
  return page(site, title, `<h1>${esc(title)}</h1>${notice(o.error)}${parts.join('\n<div class="or">or</div>\n')}`, o.error ? 400 : 200);
}

export function pinPage(site: Site, o: { email: string; pinId: string; returnTo: string; csrf: string; minutes: number; error?: string }): Response {
  return page(
    site,
    "Enter your PIN",
    `<h1>Enter your PIN</h1>${notice(o.error)}
<p class="lead">We sent a PIN to <strong>${esc(o.email)}</strong>. It works once, for ${o.minutes} minutes.</p>
${form(
  "/sign-in/pin",
  o.csrf,
  { pin_id: o.pinId, return: o.returnTo },
  field("pin", "PIN", `<input id="pin" name="pin" class="code" autofocus autocapitalize="characters" spellcheck="false" maxlength="16" autocomplete="one-time-code" required>`) + actions(button("Sign in", { wide: true })),
)}
<p class="muted">No mail? Look in your spam folder, or <a href="/sign-in?return=${encodeURIComponent(o.returnTo)}">send a new PIN</a>.</p>`,
    o.error ? 400 : 200,
  );
}

export type Who = { email: string; idp: string };

const signedInAs = (who: Who, csrf: string) =>
  `<div class="signed-in">You are signed in as <strong>${esc(who.email)}</strong> (with ${esc(who.idp)}). ${form("/sign-out", csrf, {}, button("Sign out", { kind: "link" }))}</div>`;

/** Where the person types the code from their terminal; a POST, so a link cannot fill it in. */
export function enterCodePage(site: Site, o: { token: string; error?: string; notice?: string }): Response {
  return page(
    site,
    "Enter the code",
    `<h1>Enter the code from your terminal</h1>${notice(o.error)}${notice(o.notice, "status")}
<p>The wicket command you ran shows a code of eight letters. Type it here to see what it asks for.</p>
${form("/device", o.token, { action: "continue" }, field("user_code", "Code", `<input id="user_code" name="user_code" class="code" autofocus autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="16" required>`) + actions(button("Continue", { wide: true })))}`,
    o.error ? 400 : 200,
  );
}

/** A device request as a page shows it: its code, and where and when it was made. */
export type DeviceRequest = { userCode: string; ip: string; at: number; who: Who; csrf: string; token: string; browserIp: string };

const utc = (at: number) => new Date(at).toUTCString().replace("GMT", "UTC");
const ago = (at: number) => {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 5 ? "just now" : `${inWords(s)} ago`;
};

/** Where the request came from, in words: when, from which address, and whether that is this browser's. */
function requestedFrom(r: DeviceRequest): string {
  const same = r.ip === r.browserIp;
  return `<h2>Where the request came from</h2>
<p id="requested-from">It was made <strong>${esc(ago(r.at))}</strong> (${esc(utc(r.at))}) by a computer at the internet address <strong><code>${esc(r.ip)}</code></strong>.
${same ? "That is the same address this browser is using." : `That is <strong>not</strong> the address this browser is using (<code>${esc(r.browserIp)}</code>). That is expected when the command runs on another machine, such as a server; if you did not run it yourself, choose Deny.`}</p>
<p>Your terminal shows the code <code id="user-code" class="code-shown">${esc(r.userCode)}</code>. Approve only if you started this yourself and see the same code there. If someone sent you a link or a code to approve, choose Deny.</p>`;
}

export function confirmAppPage(site: Site, o: DeviceRequest & { app: string; sessionEnds: number }): Response {
  return page(
    site,
    `Sign in to ${o.app}?`,
    `<h1>Sign in to <code>${esc(o.app)}</code>?</h1>
<p class="lead">A wicket command on a computer at the internet address <strong>${esc(o.ip)}</strong> asks to connect to the application <strong>${esc(o.app)}</strong> as you, <strong>${esc(o.who.email)}</strong>.</p>
<p id="grant" class="notice status"><strong>Approving signs that computer in as you to every application on this edge that you may reach</strong>, not only <code>${esc(o.app)}</code>, without asking you again, until ${esc(utc(o.sessionEnds))} (unless it signs out with <code>wicket access logout</code>, or an administrator revokes it).</p>
${requestedFrom(o)}
${form("/device", o.token, { user_code: o.userCode }, actions(button("Approve", { name: "action", value: "approve" }), button("Deny", { name: "action", value: "deny", kind: "secondary" })))}
${signedInAs(o.who, o.csrf)}`,
  );
}

export function confirmAdminPage(site: Site, o: DeviceRequest & { sessionEnds: number }): Response {
  return page(
    site,
    "Administer as you?",
    `<h1>Administer this edge as you?</h1>
<p class="lead">A <code>wicket edge login</code> on a computer at the internet address <strong>${esc(o.ip)}</strong> asks to administer this edge as you, <strong>${esc(o.who.email)}</strong>.</p>
<p id="grant" class="notice status"><strong>Approving lets that computer do whatever you may do as an administrator</strong> (the zones you administer, or the whole edge) until ${esc(utc(o.sessionEnds))}, unless it signs out with <code>wicket edge logout</code> or an administrator revokes your sign-in.</p>
${requestedFrom(o)}
${form("/device", o.token, { user_code: o.userCode }, actions(button("Approve", { name: "action", value: "approve" }), button("Deny", { name: "action", value: "deny", kind: "secondary" })))}
${signedInAs(o.who, o.csrf)}`,
  );
}

const lasting = (ms: number) => (ms >= 2 * 86_400_000 ? `${Math.round(ms / 86_400_000)} days` : inWords(Math.round(ms / 1000)));

export function pickZonePage(site: Site, o: DeviceRequest & { zones: string[]; credentialMs: number }): Response {
  const choices = o.zones.map((z) => `<li><p>${esc(zoneGrant(z, o.credentialMs))}</p>${button(`Connect servers to ${z}`, { name: "zone", value: z })}</li>`).join("");
  return page(
    site,
    "Connect a server",
    `<h1>Connect a server to this edge?</h1>
<p id="grant" class="notice status"><code>wicket tunnel login</code> asks for <strong>a zone credential that lets a server serve hostnames in a zone</strong> you administer. Whoever holds it can put a server behind any hostname in that zone, and people who connect to those hostnames reach that server. It lasts ${esc(lasting(o.credentialMs))}, until an administrator revokes it.</p>
${requestedFrom(o)}
<h2>Approve for one zone</h2>
${form("/device", o.token, { user_code: o.userCode, action: "approve" }, `<ul class="choices">${choices}</ul>`)}
${form("/device", o.token, { user_code: o.userCode }, actions(button("Deny", { name: "action", value: "deny", kind: "secondary" })))}
${signedInAs(o.who, o.csrf)}`,
  );
}

/** What approving a zone gives, in one sentence. */
export const zoneGrant = (zone: string, credentialMs: number) =>
  `A zone credential that lets a server serve hostnames in zone ${zone} (such as ssh.${zone}) for ${lasting(credentialMs)}.`;

export function deniedPage(site: Site, o: { sentence: string; who: Who; csrf: string }): Response {
  return page(
    site,
    "Access denied",
    `<h1>Access denied</h1><p class="notice" role="alert" id="reason">${esc(o.sentence)}</p>
<p>If you think you should have access, ask your administrator and tell them the sentence above. If you meant to use another account, sign out and sign in again with it.</p>
${signedInAs(o.who, o.csrf)}`,
    403,
  );
}

export function donePage(site: Site, title: string, text: string): Response {
  return page(site, title, `<h1>${esc(title)}</h1><p class="notice ok" role="status">${esc(text)}</p>`);
}

const inWords = (s: number) => (s < 90 ? `${s} ${s === 1 ? "second" : "seconds"}` : `${Math.ceil(s / 60)} minutes`);

/** A request a rate limit refused: 429, with Retry-After in seconds and the same wait in words. */
export function tooManyPage(site: Site, text: string, retryAfterSeconds: string): Response {
  const res = errorPage(site, "Too many attempts", `${text} Try again in ${inWords(Number(retryAfterSeconds))}.`, 429);
  res.headers.set("retry-after", retryAfterSeconds);
  return res;
}

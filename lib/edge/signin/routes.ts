// The browser side of signing in, on the edge's own host: the sign-in page (a PIN by e-mail,
// or a button per OpenID Connect provider), the provider's callback, and the device page
// where a person confirms (or is refused) what a wicket command asked for. A sign-in leaves
// an org session cookie that serves every later confirmation until it ends.
import { finishOidc, OidcError, startOidc } from "../../auth/oidc.ts";
import { isMailbox } from "../../auth/otp.ts";
import { boundedLog, log } from "../../cli/log.ts";
import {
  countRecentPins,
  createPin,
  createSignIn,
  findDeviceByUserCode,
  recordSignIn,
  revokeSignIn,
  saveOidcLogin,
  settleDeviceCode,
  takeOidcLogin,
  verifyPin,
  verifySignIn,
  zonesAdministeredBy,
  DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS,
  type DeviceCode,
  type Identity,
  type SignIn,
} from "../../store/index.ts";
import type { OidcProvider, OtpProvider } from "../config/file.ts";
import { cookie, CSRF_COOKIE, csrfOk, csrfToken, readCookies, safeReturn, SESSION_COOKIE, sessionFormOk, sessionFormToken } from "../http/cookies.ts";
import { signInVerdict, limitsOf, revokedUser, type SignInContext } from "./oauth.ts";
import { admit, giveBack, guessFailed, guessSucceeded, retryAfter, SIGN_IN_LIMITS } from "./rate-limit.ts";
import { pinRecipient } from "./recipients.ts";
import { VERIFY_PATH } from "../../wire/http.ts";
import { confirmAdminPage, confirmAppPage, deniedPage, donePage, enterCodePage, pickZonePage, pinPage, signInPage, tooManyPage, type Who } from "./pages.ts";
import { errorPage, siteOf, type Site } from "../http/pages.ts";
import { BODY_LIMITS, BodyRefused, readText } from "../http/body.ts";

const PIN_WINDOW_MS = 15 * 60_000;
const PINS_PER_WINDOW = 5;
const OIDC_LOGIN_MS = 10 * 60_000;

const redirect = (to: string, setCookies: string[] = []) => {
  const headers = new Headers({ location: to, "cache-control": "no-store" });
  for (const c of setCookies) headers.append("set-cookie", c);
  return new Response(null, { status: 303, headers });
};

/** Adds Set-Cookie headers to a page. */
function withCookies(res: Response, ...setCookies: (string | undefined)[]): Response {
  for (const c of setCookies) if (c) res.headers.append("set-cookie", c);
  return res;
}

/** Who is asking, for the pages: the configured name and logo, else the public host. */
const site = (ctx: SignInContext): Site => siteOf(ctx.identity.brand, ctx.publicUrl());

/** This browser's org session on the edge's host, unless it ended or its user was revoked since. */
export async function browserSignIn(req: Request, ctx: SignInContext): Promise<SignIn | undefined> {
  const s = await verifySignIn(ctx.store, readCookies(req)[SESSION_COOKIE], "browser");
  return s && !(await revokedUser(ctx.store, s)) ? s : undefined;
}

const otpProvider = (ctx: SignInContext, name?: unknown): OtpProvider | undefined =>
  ctx.identity.providers.find((p): p is OtpProvider => p.type === "otp" && (name === undefined || p.name === name));
/** The provider a PIN sign-in is recorded with, as policies' `idp:` rules see it. */
const pinIdp = (ctx: SignInContext) => otpProvider(ctx)?.name ?? "email";
const oidcProvider = (ctx: SignInContext, name: string): OidcProvider | undefined => ctx.identity.providers.find((p): p is OidcProvider => p.type === "oidc" && p.name === name);

function showSignIn(req: Request, ctx: SignInContext, returnTo: string, error?: string, email?: string): Response {
  const { token, setCookie } = csrfToken(req);
  return withCookies(signInPage(site(ctx), { providers: ctx.identity.providers, returnTo, csrf: token, error, email }), setCookie);
}

/** A finished sign-in: the user is recorded, the browser gets its session, and goes back. */
async function establish(ctx: SignInContext, who: Identity, ip: string, returnTo: string): Promise<Response> {
  await recordSignIn(ctx.store, who.email, who.idp);
  const s = await createSignIn(ctx.store, { ...who, kind: "browser", ip, expiresAt: Date.now() + ctx.identity.sessionMs });
  log.info(`signed in: ${who.email} with ${who.idp} from ${ip}`);
  return redirect(returnTo, [cookie(SESSION_COOKIE, s.token, ctx.identity.sessionMs)]);
}

/** The posted form, if it came from our own page (`check`: csrfOk, or sessionFormOk for forms that act for a signed-in person). */
async function postedForm(req: Request, ctx: SignInContext, check = csrfOk): Promise<URLSearchParams | Response> {
  if (!(req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return errorPage(site(ctx), "Bad request", "This form could not be read; go back and try again.");
  let f: URLSearchParams;
  try {
    f = new URLSearchParams(await readText(req, BODY_LIMITS.form));
  } catch (e) {
    if (e instanceof BodyRefused) return errorPage(site(ctx), e.status === 413 ? "Request too large" : "Request too slow", e.status === 413 ? "This form sent more than a sign-in needs; go back and try again." : "This form took too long to arrive; go back and try again.", e.status);
    throw e;
  }
  if (!check(req, f, new URL(ctx.publicUrl()).origin)) return errorPage(site(ctx), "Form expired", "This form is stale or came from another site; go back, reload the page and try again.", 403);
  return f;
}

/** How long a PIN lasts, in whole minutes, as the mail and the pages say it. */
const pinMinutes = (ctx: SignInContext) => Math.round(ctx.identity.pinLifetimeMs / 60_000) || 1;

/**
 * Mails a PIN without waiting for the mail server: a page that came back only after an SMTP
 * round trip would tell a mailbox that gets PINs from one that does not (recipients.ts).
 */
function mailPin(ctx: SignInContext, email: string, pin: string, ip: string) {
  ctx.mailer!(email, pin, pinMinutes(ctx)).catch((e: Error) => log.error(`cannot send the sign-in PIN to ${email} (requested from ${ip}): ${e.message}`));
}

/** Lines about PINs not sent, a few a minute: anyone can make one. */
const notSentLog = boundedLog(10, 60_000);

async function sendPin(req: Request, ctx: SignInContext, f: URLSearchParams, ip: string): Promise<Response> {
  const returnTo = safeReturn(f.get("return"));
  const p = otpProvider(ctx, f.get("idp") ?? undefined);
  if (!p) return showSignIn(req, ctx, returnTo, "Sign-in by e-mail is not offered on this edge.");
  const email = String(f.get("email") ?? "").trim().toLowerCase();
  if (!isMailbox(email)) return showSignIn(req, ctx, returnTo, "That is not an e-mail address; check it and try again.", email);
  if (!ctx.mailer) return showSignIn(req, ctx, returnTo, "This edge cannot send e-mail (no SMTP is configured); ask your administrator, or use another way to sign in.", email);
  // Before the store or the mail server is asked anything: each PIN is a row, and maybe a mail.
  const limits = limitsOf(ctx);
  const wait = admit(limits, "pin_request", ip);
  if (wait > 0) return tooManyPage(site(ctx), "Too many PINs were asked for from your address.", retryAfter(wait));
  const browser = readCookies(req)[CSRF_COOKIE]!;
  const minutes = pinMinutes(ctx);
  const tooMany = () => showSignIn(req, ctx, returnTo, `Too many PINs were sent to ${email} in the last ${PIN_WINDOW_MS / 60_000} minutes; wait a few minutes and try again.`, email);
  // Every mailbox takes the same path, with the same reads and writes: only whether the PIN is
  // mailed differs. A PIN for a mailbox nothing lets in is made and kept like any other, and
  // told to nobody; so is one for a mailbox only an `everyone`-like rule lets in while the
  // edge-wide `open_mail` bucket is empty: refusing only those would tell them from the named.
  // an edge admin (edge.yaml's admins:) is named too: the console and `edge login` are theirs
  const recipient = ctx.namesAdmin?.(email, pinIdp(ctx)) ? "named" : await pinRecipient(ctx.store, email, pinIdp(ctx));
  if ((await countRecentPins(ctx.store, email, Date.now() - PIN_WINDOW_MS)) >= PINS_PER_WINDOW) return tooMany();
  const pin = await createPin(ctx.store, email, browser, ctx.identity.pinLifetimeMs);
  if (recipient === "named" || (recipient === "open" && admit(limits, "open_mail", ip) === 0)) mailPin(ctx, email, pin.pin, ip);
  else if (recipient === "none") notSentLog("info", `no sign-in PIN sent to ${email} (requested from ${ip}): no policy and no zone lets that mailbox in`);
  else notSentLog("warn", `no sign-in PIN sent to ${email} (requested from ${ip}): more than ${SIGN_IN_LIMITS.open_mail.global.capacity} a minute were asked for mailboxes only an everyone, ip: or idp: rule lets in`);
  return pinPage(site(ctx), { email, pinId: pin.id, returnTo, csrf: browser, minutes });
}

async function checkPin(req: Request, ctx: SignInContext, f: URLSearchParams, ip: string): Promise<Response> {
  const returnTo = safeReturn(f.get("return"));
  const pinId = String(f.get("pin_id") ?? "");
  const browser = readCookies(req)[CSRF_COOKIE]!;
  const limits = limitsOf(ctx);
  const wait = admit(limits, "pin_guess", ip);
  if (wait > 0) return tooManyPage(site(ctx), "Too many PINs were tried from your address.", retryAfter(wait));
  const r = await verifyPin(ctx.store, pinId, String(f.get("pin") ?? "").trim(), browser);
  if (r.ok) {
    guessSucceeded(limits, ip);
    // One factor, the mailbox: "email", not "otp", which policies read as a second factor (`mfa`).
    return establish(ctx, { email: r.email, idp: pinIdp(ctx), groups: [], amr: ["email"] }, ip, returnTo);
  }
  guessFailed(limits, ip);
  if (r.why === "wrong") {
    return pinPage(site(ctx), { email: r.email, pinId, returnTo, csrf: browser, minutes: pinMinutes(ctx), error: `That PIN is wrong; ${r.left} ${r.left === 1 ? "try" : "tries"} left.` });
  }
  const why = {
    locked: "This PIN is locked after 5 wrong tries. Ask for a new one.",
    expired: "This PIN has expired. Ask for a new one.",
    used: "This PIN was already used. Ask for a new one.",
    unknown: "This PIN is not valid. Ask for a new one.",
  }[r.why];
  log.info(`sign-in PIN ${JSON.stringify(pinId.slice(0, 64))} refused from ${ip}: ${r.why}`);
  return showSignIn(req, ctx, returnTo, why);
}

async function oidcStart(req: Request, ctx: SignInContext, f: URLSearchParams, name: string, ip: string): Promise<Response> {
  const p = oidcProvider(ctx, name);
  const returnTo = safeReturn(f.get("return"));
  if (!p) return showSignIn(req, ctx, returnTo, `There is no identity provider "${name}" on this edge.`);
  // each start is a row in the store until it expires
  const wait = admit(limitsOf(ctx), "oidc_start", ip);
  if (wait > 0) return tooManyPage(site(ctx), "Too many sign-ins were started from your address.", retryAfter(wait));
  try {
    const s = await startOidc(p, `${ctx.publicUrl()}/sign-in/oidc/${p.name}/callback`);
    await saveOidcLogin(ctx.store, s.state, readCookies(req)[CSRF_COOKIE]!, { idp: p.name, nonce: s.nonce, codeVerifier: s.codeVerifier, returnTo }, OIDC_LOGIN_MS);
    return redirect(s.url.href);
  } catch (e) {
    if (!(e instanceof OidcError)) throw e;
    log.warn(`sign-in with ${p.name}: ${e.message}`);
    return showSignIn(req, ctx, returnTo, e.message);
  }
}

async function oidcCallback(req: Request, url: URL, ctx: SignInContext, name: string, ip: string): Promise<Response> {
  const p = oidcProvider(ctx, name);
  if (!p) return errorPage(site(ctx), "Unknown identity provider", `There is no identity provider "${name}" on this edge.`, 404);
  const login = await takeOidcLogin(ctx.store, url.searchParams.get("state") ?? "", readCookies(req)[CSRF_COOKIE] ?? "");
  if (!login || login.idp !== p.name) return showSignIn(req, ctx, "/", "That sign-in is stale or was started in another browser; sign in again.");
  if (url.searchParams.has("error")) {
    const why = url.searchParams.get("error_description") ?? url.searchParams.get("error");
    return showSignIn(req, ctx, login.returnTo, `${p.displayName} did not sign you in: ${why}`);
  }
  try {
    // The URL the provider redirected to, as registered: behind a proxy req.url is not it.
    const user = await finishOidc(p, new URL(url.pathname + url.search, ctx.publicUrl()), { state: url.searchParams.get("state")!, ...login });
    return establish(ctx, { ...user, idp: p.name }, ip, login.returnTo);
  } catch (e) {
    if (!(e instanceof OidcError)) throw e;
    log.warn(`sign-in with ${p.name} from ${ip} failed: ${e.message}`);
    return showSignIn(req, ctx, login.returnTo, e.message);
  }
}

/** Who is looking at a device page, and the tokens its forms carry (lib/edge/http/cookies.ts). */
type Viewer = { session: SignIn; who: Who; csrf: string; token: string; setCookie?: string; ip: string };

function viewer(req: Request, session: SignIn, ip: string): Viewer {
  const { token: csrf, setCookie } = csrfToken(req);
  const token = sessionFormToken(csrf, readCookies(req)[SESSION_COOKIE]!);
  return { session, who: { email: session.email, idp: session.idp }, csrf, token, setCookie, ip };
}

const show = (v: Viewer, res: Response) => withCookies(res, v.setCookie);
const signInFirst = (back: string) => redirect(`/sign-in?return=${encodeURIComponent(back)}`);
const UNKNOWN_CODE = "That code is unknown or has expired. Check it, or run the command in your terminal again.";

/**
 * The device code a signed-in person typed (RFC 8628 5.1: guesses are limited), or the 429
 * page once this session or this address has typed too many that match no live code. A code
 * found and still live gives its guess back, so a person who types their own code never
 * meets the limit.
 */
async function typedCode(ctx: SignInContext, v: Viewer, typed: string): Promise<DeviceCode | undefined | Response> {
  const limits = limitsOf(ctx);
  const wait = admit(limits, "user_code", v.ip, v.session.id);
  if (wait > 0) return show(v, tooManyPage(site(ctx), "Too many codes that match no sign-in were typed in this browser's sign-in or from your address.", retryAfter(wait)));
  const d = await findDeviceByUserCode(ctx.store, typed);
  if (!d || d.expiresAt <= Date.now()) return undefined;
  giveBack(limits, "user_code", v.ip, v.session.id);
  return d;
}

/** What a pending code asks for, as the page that approves or refuses it. */
async function confirmation(ctx: SignInContext, d: DeviceCode, v: Viewer): Promise<Response> {
  if (d.status !== "pending") return errorPage(site(ctx), "Code already used", "This code was already confirmed or refused. Run the command in your terminal again if you need a new one.", 410);
  const { session, who } = v;
  const request = { userCode: d.userCode, ip: d.clientIp, at: d.createdAt, who, csrf: v.csrf, token: v.token, browserIp: v.ip };
  if (d.purpose === "tunnel") {
    const zones = await zonesAdministeredBy(ctx.store, session);
    if (zones.length === 0) {
      const sentence = `${session.email} (signed in with ${session.idp}) administers no zone on this edge; an admin can add you with: wicket edge zone add <zone> --admin ${session.email}`;
      await settleDeviceCode(ctx.store, d.id, { status: "denied", sessionId: session.id, reason: sentence });
      return deniedPage(site(ctx), { sentence, who, csrf: v.csrf });
    }
    return pickZonePage(site(ctx), { ...request, zones, credentialMs: ctx.credentialLifetimeMs ?? DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS });
  }
  if (d.purpose === "admin") return confirmAdminPage(site(ctx), { ...request, sessionEnds: session.expiresAt });
  // Someone the policy refuses is told so at once, rather than after a pointless "Approve".
  const decision = await signInVerdict(ctx.store, d.app!, session, d.clientIp);
  if (!decision.allowed) {
    await settleDeviceCode(ctx.store, d.id, { status: "denied", sessionId: session.id, reason: decision.sentence });
    return deniedPage(site(ctx), { sentence: decision.sentence, who, csrf: v.csrf });
  }
  return confirmAppPage(site(ctx), { ...request, app: d.app!, sessionEnds: session.expiresAt });
}

/** GET /device[?user_code=]: the page to type a code in, or an app sign-in's confirmation. */
async function devicePage(req: Request, url: URL, ctx: SignInContext, ip: string): Promise<Response> {
  const userCode = url.searchParams.get("user_code");
  const session = await browserSignIn(req, ctx);
  if (!session) return signInFirst(userCode ? `${VERIFY_PATH}?user_code=${encodeURIComponent(userCode)}` : VERIFY_PATH);
  const v = viewer(req, session, ip);
  if (!userCode) return show(v, enterCodePage(site(ctx), { token: v.token }));
  const d = await typedCode(ctx, v, userCode);
  if (d instanceof Response) return d;
  if (!d) return show(v, enterCodePage(site(ctx), { token: v.token, error: UNKNOWN_CODE }));
  // A server's zone credential is approved only for a code the person typed: a link anyone can
  // start and send (`verification_uri_complete`) must not be one click from handing it out.
  // `edge login` likewise: what it gets administers as the person
  if (d.purpose === "admin") return show(v, enterCodePage(site(ctx), { token: v.token, notice: "To sign a terminal in as an administrator, type the code that it shows; a link cannot fill it in. If someone sent you this link, do not go on." }));
  if (d.purpose === "tunnel") return show(v, enterCodePage(site(ctx), { token: v.token, notice: "To connect a server, type the code that its terminal shows; a link cannot fill it in. If someone sent you this link, do not go on." }));
  return show(v, await confirmation(ctx, d, v));
}

/** POST /device: a typed code (continue), or the answer to a confirmation (approve, deny). */
async function deviceAnswer(req: Request, ctx: SignInContext, f: URLSearchParams, ip: string): Promise<Response> {
  const session = await browserSignIn(req, ctx);
  if (!session) return signInFirst(VERIFY_PATH);
  const v = viewer(req, session, ip);
  const { who } = v;
  const action = f.get("action");
  if (action !== "continue" && action !== "approve" && action !== "deny") return errorPage(site(ctx), "Bad request", "This form could not be read; go back and try again.");
  const d = await typedCode(ctx, v, String(f.get("user_code") ?? ""));
  if (d instanceof Response) return d;
  if (action === "continue") return !d ? enterCodePage(site(ctx), { token: v.token, error: UNKNOWN_CODE }) : confirmation(ctx, d, v);
  if (!d || d.status !== "pending") return errorPage(site(ctx), "Code no longer valid", "This code has expired or was already used. Run the command in your terminal again.", 410);
  if (action === "deny") {
    await settleDeviceCode(ctx.store, d.id, { status: "denied", sessionId: session.id, reason: `the sign-in was declined in the browser by ${session.email}` });
    return donePage(site(ctx), "Declined", "You declined. The command in your terminal stops.");
  }
  if (d.purpose === "tunnel") {
    const zone = String(f.get("zone") ?? "");
    if (!(await zonesAdministeredBy(ctx.store, session)).includes(zone)) return deniedPage(site(ctx), { sentence: `${session.email} does not administer the zone ${zone}.`, who, csrf: v.csrf });
    if (!(await settleDeviceCode(ctx.store, d.id, { status: "approved", sessionId: session.id, zone }))) return errorPage(site(ctx), "Code no longer valid", "This code was already used. Run the command in your terminal again if you need a new one.", 410);
    log.info(`tunnel login ${d.id} (requested from ${d.clientIp}) approved by ${session.email} from ${ip} for zone ${zone}`);
    return donePage(site(ctx), "Server connected", `The terminal that ran wicket tunnel login now gets a credential for ${zone}. You can close this window.`);
  }
  if (d.purpose === "admin") {
    if (!(await settleDeviceCode(ctx.store, d.id, { status: "approved", sessionId: session.id }))) return errorPage(site(ctx), "Code no longer valid", "This code was already used. Run the command in your terminal again if you need a new one.", 410);
    log.info(`edge login ${d.id} (requested from ${d.clientIp}) approved by ${session.email} from ${ip}`);
    return donePage(site(ctx), "Signed in", "The terminal that ran wicket edge login now administers as you. You can close this window.");
  }
  const decision = await signInVerdict(ctx.store, d.app!, session, d.clientIp);
  if (!decision.allowed) {
    await settleDeviceCode(ctx.store, d.id, { status: "denied", sessionId: session.id, reason: decision.sentence });
    return deniedPage(site(ctx), { sentence: decision.sentence, who, csrf: v.csrf });
  }
  if (!(await settleDeviceCode(ctx.store, d.id, { status: "approved", sessionId: session.id }))) return errorPage(site(ctx), "Code no longer valid", "This code was already used. Run the command in your terminal again if you need a new one.", 410);
  log.info(`device sign-in ${d.id} for ${d.app} approved by ${session.email}`);
  return donePage(site(ctx), "Signed in", `You are signed in to ${d.app}. Go back to your terminal; you can close this window.`);
}

async function signOut(req: Request, ctx: SignInContext): Promise<Response> {
  const session = await browserSignIn(req, ctx);
  if (session) await revokeSignIn(ctx.store, session.id);
  return withCookies(donePage(site(ctx), "Signed out", "You are signed out of this edge."), cookie(SESSION_COOKIE, "", 0));
}

/** The sign-in pages on the edge's host; undefined when the path is not one of them. */
export async function handleSignInPages(req: Request, url: URL, ctx: SignInContext, ip: string): Promise<Response | undefined> {
  const p = url.pathname;
  const oidc = /^\/sign-in\/oidc\/([a-z0-9_-]+)(\/callback)?$/.exec(p);
  if (req.method === "GET") {
    if (p === "/sign-in") return showSignIn(req, ctx, safeReturn(url.searchParams.get("return")));
    if (p === VERIFY_PATH) return devicePage(req, url, ctx, ip);
    if (oidc?.[2]) return oidcCallback(req, url, ctx, oidc[1]!, ip);
    return undefined;
  }
  if (req.method !== "POST" || !(p === "/sign-in/email" || p === "/sign-in/pin" || p === VERIFY_PATH || p === "/sign-out" || (oidc && !oidc[2]))) return undefined;
  const f = await postedForm(req, ctx, p === VERIFY_PATH ? sessionFormOk : csrfOk);
  if (f instanceof Response) return f;
  if (p === "/sign-in/email") return sendPin(req, ctx, f, ip);
  if (p === "/sign-in/pin") return checkPin(req, ctx, f, ip);
  if (p === VERIFY_PATH) return deviceAnswer(req, ctx, f, ip);
  if (p === "/sign-out") return signOut(req, ctx);
  return oidcStart(req, ctx, f, oidc![1]!, ip);
}

// The HTTP side of SSH in the browser. On an application's hostname (with --browser-ssh): the
// terminal page, the one-time code that brings the browser's sign-in over from the edge's host,
// and the terminal's WebSocket upgrade, same-origin only. On the edge's host: the hand-off that
// signs the browser in (the usual sign-in pages) and sends it back; old links to recordings
// go on to the console, which plays them (lib/edge/console/routes.ts).
import { timingSafeEqual } from "node:crypto";
import { jwtClaims } from "../../auth/jwt-claims.ts";
import { signAppToken } from "../../auth/jwt.ts";
import { randomSecret } from "../../auth/secret.ts";
import { log } from "../../cli/log.ts";
import {
  browserSsh,
  createHandoff,
  findApp,
  takeHandoff,
  type BrowserSsh,
  type Store,
} from "../../store/index.ts";
import { authorizeClient, decide, identify, refuseAllowed, type AuthorizeOptions, type ClientAuth } from "../decisions/authorize.ts";
import type { TerminalData } from "./ssh.ts";
import { cookie, CSRF_COOKIE, csrfToken, readCookies, sessionFormToken } from "../http/cookies.ts";
import { signInVerdict, type SignInContext } from "../signin/oauth.ts";
import { errorPage, wantsPage, type Site } from "../http/pages.ts";
import { deniedPage } from "../signin/pages.ts";
import { browserSignIn } from "../signin/routes.ts";
import { principalFor } from "../decisions/ssh-cert.ts";
import { CONSOLE_PATH } from "../console/html.ts";
import { APP_COOKIE, sizeParam, TERMINAL_ASSETS, TERMINAL_SESSION_PATH, TERMINAL_SOCKET_PATH } from "./protocol.ts";

/** The terminal's pages and bundled assets (xterm.js, the player: a few hundred KiB of text),
 * loaded with the first terminal: an edge that serves none never holds them. */
const pages = () => import("./page.ts");
const asset = async (p: string) => (p.startsWith(TERMINAL_ASSETS) ? (await pages()).terminalAsset(p) : undefined);
import { decisionMessage } from "../../policy/evaluate.ts";

/** The edge's host path that signs a browser in for an application and sends it back. */
export const HANDOFF_PATH = "/browser-ssh";
export const RECORDINGS_PATH = "/recordings/";

export type TerminalRouteContext = {
  store: Store;
  signIn: SignInContext;
  site(): Site;
  auditFailOpen?: boolean;
  metrics?: AuthorizeOptions["metrics"];
  /** Upgrades the request with this data; undefined when it did. */
  upgrade(data: TerminalData): Response | undefined;
};

function redirect(to: string, ...setCookies: string[]): Response {
  const res = new Response(null, { status: 303, headers: { location: to, "cache-control": "no-store" } });
  for (const c of setCookies) res.headers.append("set-cookie", c);
  return res;
}

/** On the application's host, the browser that started a hand-off: only it may finish it, so a
 * code someone made for their own sign-in cannot sign another browser in as them. */
const HANDOFF_COOKIE = "__Host-wicket-handoff";
const HANDOFF_COOKIE_MS = 10 * 60_000;
const STATE = /^[A-Za-z0-9_-]{43}$/;
/** Hand-offs one browser may have under way on a host at once (tabs opened together). */
const HANDOFFS_AT_ONCE = 4;

/** The states of this browser's hand-offs under way, newest first. */
const handoffStates = (req: Request) => (readCookies(req)[HANDOFF_COOKIE] ?? "").split(".").filter((s) => STATE.test(s));
const handoffCookie = (states: string[]) => cookie(HANDOFF_COOKIE, states.join("."), states.length ? HANDOFF_COOKIE_MS : 0);

/** The app token in the application host's cookie, as the Authorization header authorizeClient reads. */
function withAppToken(req: Request): Request {
  const token = readCookies(req)[APP_COOKIE];
  const headers = new Headers(req.headers);
  headers.delete("authorization");
  if (token && /^[A-Za-z0-9_.-]+$/.test(token)) headers.set("authorization", `Bearer ${token}`);
  return new Request(req.url, { headers });
}

/** The edge's host URL that signs this browser in for `host` and comes back; `state` is in the
 * browser's hand-off cookie on the application's host. */
const handoffUrl = (ctx: TerminalRouteContext, host: string, state: string) => `${ctx.signIn.publicUrl()}${HANDOFF_PATH}?host=${encodeURIComponent(host)}&state=${state}`;

/** `path` on the application's host, served by this same listener: the public URL's scheme and port. */
function onAppHost(ctx: TerminalRouteContext, host: string, path: string, search = ""): string {
  const u = new URL(ctx.signIn.publicUrl());
  u.hostname = host;
  u.pathname = path;
  u.search = search;
  return u.href;
}

/**
 * On an application's hostname: the terminal's routes when the application has browser SSH on,
 * else false (the router goes on to the explanatory page). undefined: upgraded.
 */
export async function appTerminalRoute(req: Request, url: URL, ip: string, upgrade: boolean, host: string, ctx: TerminalRouteContext): Promise<Response | undefined | false> {
  const p = url.pathname;
  // "/" is the terminal for a browser's page only: a CLI client's upgrade there is a stream as ever
  const page = p === "/" && !upgrade && wantsPage(req);
  if (!page && p !== TERMINAL_SOCKET_PATH && p !== TERMINAL_SESSION_PATH && !p.startsWith(TERMINAL_ASSETS)) return false;
  // "ssh.site.com." is another host to the browser's cookies: the terminal lives at the name without the dot
  if (page && /\.(:\d+)?$/.test(req.headers.get("host") ?? "")) return redirect(onAppHost(ctx, host, "/"));
  const app = await findApp(ctx.store, host);
  const settings = app && (await browserSsh(ctx.store, app.hostname));
  if (!app || !settings?.enabled) return false;
  const bundled = await asset(p);
  if (bundled) return bundled;
  if (p === TERMINAL_SESSION_PATH) {
    const states = handoffStates(req);
    const taken = await takeHandoff(ctx.store, host, url.searchParams.get("code") ?? "", states);
    if (!taken) return errorPage(ctx.site(), "Sign-in link expired", "This sign-in link was already used, has expired, or was started in another browser. Open the address of the server again to sign in.", 400);
    const exp = (jwtClaims(taken.token)?.exp ?? 0) * 1000;
    return redirect("/", cookie(APP_COOKIE, taken.token, exp - Date.now()), handoffCookie(states.filter((s) => s !== taken.state)));
  }
  if (p === TERMINAL_SOCKET_PATH) {
    if (!upgrade) return new Response("this is the terminal's WebSocket\n", { status: 426 });
    return terminalUpgrade(req, url, ip, host, ctx, settings, app.zone);
  }
  if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
  // the page: who is signed in here, and whether the policies let them in now
  const who = await identify(ctx.store, withAppToken(req), ip, host);
  if ("reject" in who) {
    const state = randomSecret();
    const states = [state, ...handoffStates(req)].slice(0, HANDOFFS_AT_ONCE);
    return redirect(handoffUrl(ctx, host, state), cookie(APP_COOKIE, "", 0), handoffCookie(states));
  }
  const { decision } = await decide(ctx.store, host, who.subject);
  if (!decision.allowed) return errorPage(ctx.site(), "Access denied", decisionMessage(host, decision), 403);
  const principal = await principalFor(ctx.store, { host, ip, identity: who.identity, subject: who.subject, signIn: who.signIn });
  if (typeof principal !== "string") return errorPage(ctx.site(), "No SSH user for you", principal.error, 403);
  const { token: csrf, setCookie } = csrfToken(req);
  const res = (await pages()).terminalPage(ctx.site(), { host, who: who.identity, principal, token: sessionFormToken(csrf, readCookies(req)[APP_COOKIE]!) });
  if (setCookie) res.headers.append("set-cookie", setCookie);
  return res;
}

/** The terminal's upgrade: from a page of this very origin, with this browser's form token; then the CLI's decision and audit. */
async function terminalUpgrade(req: Request, url: URL, ip: string, host: string, ctx: TerminalRouteContext, settings: BrowserSsh, zone: string): Promise<Response | undefined> {
  const c = readCookies(req);
  const origin = req.headers.get("origin");
  const token = url.searchParams.get("token") ?? "";
  const expected = c[CSRF_COOKIE] && c[APP_COOKIE] ? sessionFormToken(c[CSRF_COOKIE], c[APP_COOKIE]) : undefined;
  if (origin !== url.origin || !expected || expected.length !== token.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(token))) {
    log.info(`terminal upgrade for ${host} from ${ip} refused: ${origin !== url.origin ? `origin ${JSON.stringify(origin)} is not ${url.origin}` : "no valid form token"}`);
    return new Response("refused: the terminal opens only from its own page\n", { status: 403 });
  }
  let auth: ClientAuth = await authorizeClient(ctx.store, withAppToken(req), host, ip, { auditFailOpen: ctx.auditFailOpen, metrics: ctx.metrics });
  let principal = "";
  if (!auth.reject) {
    const p = await principalFor(ctx.store, auth);
    if (typeof p === "string") principal = p;
    else auth = await refuseAllowed(ctx.store, auth, p.error, ctx.metrics);
  }
  const cols = sizeParam(url.searchParams.get("cols"), 80, 1000);
  const rows = sizeParam(url.searchParams.get("rows"), 24, 500);
  return ctx.upgrade({ ...auth, kind: "terminal", principal, cols, rows, record: settings.record, recordInput: settings.recordInput, recordingLimit: settings.recordingLimit, zone, s: {} });
}

const signInFirst = (back: string) => redirect(`/sign-in?return=${encodeURIComponent(back)}`);

/** On the edge's host: the hand-off, old recording links, the bundled assets. */
export async function edgeTerminalRoute(req: Request, url: URL, ip: string, ctx: TerminalRouteContext): Promise<Response | undefined> {
  const p = url.pathname;
  const bundled = await asset(p);
  if (bundled) return bundled;
  if (p === HANDOFF_PATH && req.method === "GET") return handoff(req, url, ip, ctx);
  if (p.startsWith(RECORDINGS_PATH) && req.method === "GET") return recording(p.slice(RECORDINGS_PATH.length), ctx);
  return undefined;
}

async function handoff(req: Request, url: URL, ip: string, ctx: TerminalRouteContext): Promise<Response> {
  const host = (url.searchParams.get("host") ?? "").toLowerCase();
  const app = await findApp(ctx.store, host);
  if (!app || !(await browserSsh(ctx.store, app.hostname)).enabled) return errorPage(ctx.site(), "No terminal here", `The edge offers no terminal in the browser for ${host}.`, 404);
  // a hand-off starts on the application's host, which gives the browser its state: from
  // anywhere else (a link, another site), go there first
  const state = url.searchParams.get("state") ?? "";
  if (!STATE.test(state)) return redirect(onAppHost(ctx, host, "/"));
  const session = await browserSignIn(req, ctx.signIn);
  if (!session) return signInFirst(`${HANDOFF_PATH}?host=${encodeURIComponent(host)}&state=${state}`);
  // someone the policy refuses is told so here, and no token, stream or SSH connection is made
  const d = await signInVerdict(ctx.store, host, session, ip);
  if (!d.allowed) {
    const { token, setCookie } = csrfToken(req);
    const res = deniedPage(ctx.site(), { sentence: d.sentence, who: { email: session.email, idp: session.idp }, csrf: token });
    if (setCookie) res.headers.append("set-cookie", setCookie);
    return res;
  }
  const length = d.app.sessionLengthSet ? d.app.sessionLengthMs : ctx.signIn.identity.appSessionMs;
  const expiresAt = Math.min(Date.now() + length, session.expiresAt);
  const token = await signAppToken(ctx.store, { issuer: ctx.signIn.publicUrl(), audience: host, identity: session, sessionId: session.id, expiresAt });
  const code = await createHandoff(ctx.store, host, token, state);
  return redirect(onAppHost(ctx, host, TERMINAL_SESSION_PATH, `?code=${encodeURIComponent(code)}`));
}

/** `/recordings/<id>` (the page) and `/recordings/<id>.cast`, as links made before the console
 * played them: the console's playback now, authorised as the admin API is. */
function recording(rest: string, ctx: TerminalRouteContext): Response {
  const m = /^(rec_[A-Za-z0-9_-]{1,64})(\.cast)?$/.exec(rest);
  return m ? redirect(`${CONSOLE_PATH}/recordings/${rest}`) : errorPage(ctx.site(), "No such recording", "There is no recording at this address.", 404);
}

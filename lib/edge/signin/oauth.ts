// The edge as an OAuth 2.0 authorization server for the wicket CLI: the Device Authorization
// Grant (RFC 8628), refresh tokens with resource indicators (RFC 8707) for minting app tokens
// from an org session without a browser, revocation (RFC 7009), the server's metadata
// (RFC 8414) and the JWKS of the keys app tokens are signed with.
import { formatZoneCredential } from "../../auth/zone-credential.ts";
import { publicJwks, signAppToken } from "../../auth/jwt.ts";
import { log } from "../../cli/log.ts";
import { evaluate } from "../../policy/evaluate.ts";
import {
  consumeDeviceCode,
  createDeviceCode,
  createSignIn,
  createZoneCredential,
  findApp,
  findDeviceByCode,
  getSignIn,
  listPolicies,
  userRevokedBefore,
  type App,
  revokeSignIn,
  verifySignIn,
  zoneAdminGrants,
  type Identity,
  type SignIn,
  type Store,
} from "../../store/index.ts";
import type { IdentitySettings } from "../config/file.ts";
import type { PinMailer } from "../../auth/otp.ts";
import { CLIENT_ID, DEVICE_GRANT, DEVICE_PATH, JWKS_PATH, METADATA_PATH, REVOKE_PATH, TOKEN_EXCHANGE_GRANT, TOKEN_PATH } from "../../wire/http.ts";
import { workloadExchange } from "./workload-exchange.ts";
import { verificationUrl } from "../../wire/user-code.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";
import { admit, createSignInLimits, retryAfter, type SignInLimits } from "./rate-limit.ts";
import { createPollPace, polled, tooEarly, type PollPace } from "./poll-pace.ts";
import { hashSecret } from "../../auth/secret.ts";
import { BODY_LIMITS, BodyRefused, readText } from "../http/body.ts";

export type SignInContext = {
  store: Store;
  /** The edge's public URL: the issuer, and where the pages and endpoints live. */
  publicUrl: () => string;
  /** The edge's own CA (self-signed TLS), bundled into zone credentials. */
  caPem?: string;
  /** How long the zone credentials `tunnel login` gets last (ms). */
  credentialLifetimeMs?: number;
  identity: IdentitySettings;
  mailer?: PinMailer;
  metrics?: EdgeMetrics;
  /** The rate limits' state; made on first use by `limitsOf`. */
  limits?: SignInLimits;
  /** How fast each device code is polled; made on first use by `paceOf`. */
  pace?: PollPace;
  /** Whether the edge's admins (edge.yaml's admins:) name this mailbox, signing in with a PIN from `idp`. */
  namesAdmin?: (email: string, idp: string) => boolean;
  /** Why this person may not administer (lib/edge/admin/people.ts), if so: a refreshed `edge login` is checked again. */
  adminRefusal?: (s: SignIn, ip: string) => Promise<string | undefined>;
};

/** This edge's sign-in rate limits (in memory, lib/edge/signin/rate-limit.ts). */
export const limitsOf = (ctx: SignInContext): SignInLimits => (ctx.limits ??= createSignInLimits({ refused: ctx.metrics?.rateLimited }));
const paceOf = (ctx: SignInContext): PollPace => (ctx.pace ??= createPollPace());

const json = (status: number, body: unknown) => Response.json(body, { status, headers: { "cache-control": "no-store", pragma: "no-cache" } });
const oauthError = (error: string, description: string, status = 400) => json(status, { error, error_description: description });

export function metadata(issuer: string) {
  return {
    issuer,
    device_authorization_endpoint: issuer + DEVICE_PATH,
    token_endpoint: issuer + TOKEN_PATH,
    revocation_endpoint: issuer + REVOKE_PATH,
    jwks_uri: issuer + JWKS_PATH,
    grant_types_supported: [DEVICE_GRANT, "refresh_token", TOKEN_EXCHANGE_GRANT],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ["none"],
    revocation_endpoint_auth_methods_supported: ["none"],
    scopes_supported: ["app", "tunnel", "admin"],
  };
}

/** The sentence a person outside the policy reads, on the page and from the CLI alike. */
export function denialSentence(host: string, who: { email: string; idp: string }, explanation: string): string {
  return `${who.email} (signed in with ${who.idp}) may not reach ${host}: ${explanation}.`;
}

/** Whether this person, from this address, may reach the application at `host`. */
export async function signInVerdict(store: Store, host: string, who: Identity, ip: string): Promise<{ allowed: true; app: App } | { allowed: false; status: "unknown" | "denied"; sentence: string }> {
  const app = await findApp(store, host);
  if (!app) return { allowed: false, status: "unknown", sentence: `the edge serves no application at ${host}; check the hostname` };
  const d = evaluate(await listPolicies(store, app.hostname), { email: who.email, groups: who.groups, idp: who.idp, amr: who.amr, ip });
  log.info(`sign-in: ${d.allowed ? "allow" : "deny"} ${host} for ${who.email} from ${ip}: ${d.explanation}`);
  return d.allowed ? { allowed: true, app } : { allowed: false, status: "denied", sentence: denialSentence(host, who, d.explanation) };
}

/** Why a session no longer counts because an admin revoked its user since (`wicket edge user revoke`), if so. */
export async function revokedUser(store: Store, s: SignIn): Promise<string | undefined> {
  const before = await userRevokedBefore(store, s.email.toLowerCase());
  if (before === undefined || s.createdAt >= before) return undefined;
  await revokeSignIn(store, s.id);
  return `the sign-in of ${s.email} was revoked at ${new Date(before).toISOString()}; sign in again`;
}

/** `resource=https://ssh.example.com` (RFC 8707) as a hostname. */
function resourceHost(raw: string | null): string | undefined {
  if (typeof raw !== "string" || !raw) return undefined;
  try {
    return new URL(raw).hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

/** The posted form, or the OAuth error that answers a request without one. */
async function form(req: Request): Promise<URLSearchParams | Response> {
  if (!(req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return oauthError("invalid_request", "send the request as application/x-www-form-urlencoded");
  try {
    return new URLSearchParams(await readText(req, BODY_LIMITS.form));
  } catch (e) {
    if (e instanceof BodyRefused) return oauthError("invalid_request", e.message, e.status);
    throw e;
  }
}

/** An app token for `host` from a CLI org session, if the policy allows. */
async function mint(ctx: SignInContext, session: SignIn, host: string, ip: string): Promise<Response> {
  const revoked = await revokedUser(ctx.store, session);
  if (revoked) return oauthError("invalid_grant", revoked);
  const d = await signInVerdict(ctx.store, host, session, ip);
  if (!d.allowed) return d.status === "unknown" ? oauthError("invalid_target", d.sentence) : oauthError("access_denied", d.sentence);
  // The application's own session length (`edge app add --session-length`), else the edge's.
  const length = d.app.sessionLengthSet ? d.app.sessionLengthMs : ctx.identity.appSessionMs;
  const expiresAt = Math.min(Date.now() + length, session.expiresAt);
  const token = await signAppToken(ctx.store, { issuer: ctx.publicUrl(), audience: host, identity: session, sessionId: session.id, expiresAt });
  return json(200, { access_token: token, token_type: "Bearer", expires_in: Math.floor((expiresAt - Date.now()) / 1000), scope: "app" });
}

async function deviceAuthorization(req: Request, ctx: SignInContext, ip: string): Promise<Response> {
  const f = await form(req);
  if (f instanceof Response) return f;
  if (f.get("client_id") !== CLIENT_ID) return oauthError("invalid_client", `unknown client; this edge serves the wicket CLI (client_id=${CLIENT_ID})`, 401);
  // Before the store is asked anything: a flood is refused from memory (counted in the metrics, not logged).
  const wait = admit(limitsOf(ctx), "device_code", ip);
  if (wait > 0) {
    const res = oauthError("slow_down", `too many sign-ins were started from this address; try again in ${retryAfter(wait)} seconds`, 429);
    res.headers.set("retry-after", retryAfter(wait));
    return res;
  }
  const scope = String(f.get("scope") ?? "app");
  let app: string | undefined;
  if (scope === "app") {
    app = resourceHost(f.get("resource"));
    if (!app) return oauthError("invalid_target", "an app sign-in needs resource=https://<application hostname>");
    if (!(await findApp(ctx.store, app))) return oauthError("invalid_target", `the edge serves no application at ${app}; check the hostname`);
  } else if (scope !== "tunnel" && scope !== "admin") {
    return oauthError("invalid_scope", `unknown scope "${scope}"; use app, tunnel or admin`);
  }
  const { identity } = ctx;
  const d = await createDeviceCode(ctx.store, { purpose: scope as "app" | "tunnel" | "admin", app, clientIp: ip, lifetimeMs: identity.deviceLifetimeMs, intervalMs: identity.pollIntervalMs });
  log.info(`device sign-in ${d.id} started from ${ip} for ${app ?? `${scope} login`}`);
  return json(200, {
    device_code: d.deviceCode,
    user_code: d.userCode,
    verification_uri: verificationUrl(ctx.publicUrl()),
    // A zone credential is approved only with the code typed: a pre-filled link is one anyone
    // can start and send to an admin (RFC 8628 5.4: the complete URI is optional).
    ...(scope === "app" ? { verification_uri_complete: verificationUrl(ctx.publicUrl(), d.userCode) } : {}),
    expires_in: Math.floor(identity.deviceLifetimeMs / 1000),
    interval: Math.ceil(identity.pollIntervalMs / 1000),
  });
}

async function deviceToken(f: URLSearchParams, ctx: SignInContext, ip: string): Promise<Response> {
  const code = String(f.get("device_code") ?? "");
  // Polling faster than the interval earns a longer one, answered from memory: no store read or write.
  const key = code ? hashSecret(code) : "";
  const early = key ? tooEarly(paceOf(ctx), key) : undefined;
  if (early !== undefined) return oauthError("slow_down", `poll at most every ${Math.ceil(early / 1000)} seconds`);
  const d = await findDeviceByCode(ctx.store, code);
  if (!d) return oauthError("invalid_grant", "unknown device code; start the sign-in again");
  polled(paceOf(ctx), key, d.intervalMs);
  const now = Date.now();
  if (now >= d.expiresAt) return oauthError("expired_token", "the sign-in code expired before it was confirmed in the browser; run the command again");
  if (d.status === "pending") return oauthError("authorization_pending", "waiting for the sign-in to be confirmed in the browser");
  if (d.status === "denied") return oauthError("access_denied", d.reason ?? "the sign-in was denied");
  if (d.status !== "approved" || !(await consumeDeviceCode(ctx.store, d.id))) return oauthError("invalid_grant", "this sign-in code was already used; start the sign-in again");

  const browser = d.sessionId ? await getSignIn(ctx.store, d.sessionId) : undefined;
  if (!browser || browser.revokedAt !== undefined || browser.expiresAt <= now) return oauthError("invalid_grant", "the browser session that approved this sign-in has ended; start again");
  const revoked = await revokedUser(ctx.store, browser);
  if (revoked) return oauthError("access_denied", revoked);

  if (d.purpose === "tunnel") {
    // Checked again: the person may have lost the zone since they picked it.
    // the rules that granted it are kept: removing one (a group, say) revokes what it granted
    const grantedBy = d.zone ? await zoneAdminGrants(ctx.store, d.zone, browser) : [];
    if (!d.zone || grantedBy.length === 0) return oauthError("access_denied", `${browser.email} does not administer the zone ${d.zone}`);
    const cred = await createZoneCredential(ctx.store, d.zone, { obtainedBy: browser.email, lifetimeMs: ctx.credentialLifetimeMs, grantedBy });
    log.info(`tunnel login: ${browser.email} got zone credential ${cred.id} for ${cred.zone}, from ${ip}`);
    const credential = formatZoneCredential({ edge: ctx.publicUrl(), zone: cred.zone, id: cred.id, secret: cred.secret, caPem: ctx.caPem });
    return json(200, { access_token: credential, token_type: "N_A", issued_token_type: "urn:wicket:zone-credential", zone: cred.zone, email: browser.email });
  }

  if (d.purpose === "admin") {
    // `wicket edge login`: an org session of its own kind, the admin API's bearer; what the
    // person administers is decided on each call (lib/edge/admin/people.ts), not here
    const admin = await createSignIn(ctx.store, { kind: "admin", email: browser.email, idp: browser.idp, groups: browser.groups, amr: browser.amr, claims: browser.claims, ip, expiresAt: browser.expiresAt, signedInAt: browser.signedInAt });
    log.info(`edge login: ${browser.email} got an admin session ${admin.id}, from ${ip}`);
    return adminGranted(admin, now);
  }

  // The CLI gets its own org session, of the identity that approved, ending when that sign-in ends.
  const cli = await createSignIn(ctx.store, { kind: "cli", email: browser.email, idp: browser.idp, groups: browser.groups, amr: browser.amr, claims: browser.claims, ip, expiresAt: browser.expiresAt, signedInAt: browser.signedInAt });
  const res = await mint(ctx, cli, d.app!, ip);
  if (res.status !== 200) {
    await revokeSignIn(ctx.store, cli.id);
    return res;
  }
  const body = (await res.json()) as Record<string, unknown>;
  return json(200, { ...body, refresh_token: cli.token, refresh_token_expires_in: Math.floor((cli.expiresAt - now) / 1000), email: cli.email });
}

const adminGranted = (admin: SignIn & { token: string }, now = Date.now()) =>
  json(200, { access_token: admin.token, token_type: "Bearer", expires_in: Math.floor((admin.expiresAt - now) / 1000), scope: "admin", email: admin.email });

/** A refreshed `edge login` is renewed up to this long after its sign-in at the identity provider. */
export const ADMIN_LOGIN_MAX_MS = 7 * 86_400_000;

/**
 * A refreshed `edge login`: the live admin session given is swapped for a new one, of a full
 * session length, after the checks its first login had (the user not revoked) and the one
 * every admin call has (the person still administers something): a removed admin cannot
 * refresh. The old session ends first, so only one of them is ever live.
 */
async function refreshAdmin(ctx: SignInContext, given: string, ip: string): Promise<Response> {
  const old = await verifySignIn(ctx.store, given, "admin");
  if (!old) return oauthError("invalid_grant", "the admin sign-in has ended or was revoked; run `wicket edge login` to sign in again");
  // without the check (a context made without it) no admin login is refreshed: it fails closed
  const refused = (await revokedUser(ctx.store, old)) ?? (ctx.adminRefusal ? await ctx.adminRefusal(old, ip) : "this edge does not renew admin sign-ins; run `wicket edge login` again");
  if (refused) return oauthError("access_denied", refused);
  // the groups and claims are those of the sign-in at the identity provider: renewed for a
  // while after it, not for ever (a person taken out of an admin group there must sign in again)
  const end = old.signedInAt + ADMIN_LOGIN_MAX_MS;
  if (Date.now() >= end) return oauthError("invalid_grant", `your admin sign-in of ${new Date(old.signedInAt).toISOString()} is renewed for ${ADMIN_LOGIN_MAX_MS / 86_400_000} days at most; run \`wicket edge login\` to sign in again`);
  // ended first, by one request only: refreshes of one session at once (or a copy of its token) get one new session, not one each
  if (!(await revokeSignIn(ctx.store, old.id))) return oauthError("invalid_grant", "the admin sign-in has ended or was revoked; run `wicket edge login` to sign in again");
  const admin = await createSignIn(ctx.store, { ...old, kind: "admin", ip, expiresAt: Math.min(end, Date.now() + ctx.identity.sessionMs) });
  log.info(`edge login: ${admin.email} refreshed admin session ${old.id} as ${admin.id}, from ${ip}`);
  return adminGranted(admin);
}

async function token(req: Request, ctx: SignInContext, ip: string): Promise<Response> {
  const f = await form(req);
  if (f instanceof Response) return f;
  if (f.get("client_id") !== CLIENT_ID) return oauthError("invalid_client", `unknown client; this edge serves the wicket CLI (client_id=${CLIENT_ID})`, 401);
  const grant = f.get("grant_type");
  if (grant === DEVICE_GRANT) return deviceToken(f, ctx, ip);
  if (grant === "refresh_token" && f.get("scope") === "admin") return refreshAdmin(ctx, String(f.get("refresh_token") ?? ""), ip);
  if (grant === "refresh_token") {
    const session = await verifySignIn(ctx.store, String(f.get("refresh_token") ?? ""), "cli");
    if (!session) return oauthError("invalid_grant", "the sign-in session has ended or was revoked; sign in again");
    const host = resourceHost(f.get("resource"));
    if (!host) return oauthError("invalid_target", "pass resource=https://<application hostname>");
    return mint(ctx, session, host, ip);
  }
  if (grant === TOKEN_EXCHANGE_GRANT) return workloadExchange(f, { ...ctx, limits: limitsOf(ctx) }, ip, { json, error: oauthError });
  return oauthError("unsupported_grant_type", `this edge takes grant_type ${DEVICE_GRANT}, refresh_token or ${TOKEN_EXCHANGE_GRANT}`);
}

async function revoke(req: Request, ctx: SignInContext): Promise<Response> {
  const f = await form(req);
  if (f instanceof Response) return f;
  const given = String(f.get("token") ?? "");
  const session = (await verifySignIn(ctx.store, given, "cli")) ?? (await verifySignIn(ctx.store, given, "admin"));
  if (session) {
    await revokeSignIn(ctx.store, session.id);
    log.info(`sign-in session ${session.id} of ${session.email} revoked by its client`);
  }
  return new Response(null, { status: 200, headers: { "cache-control": "no-store" } }); // RFC 7009: 200 for unknown tokens too
}

/** The OAuth endpoints on the edge's host; undefined when the path is not one of them. */
export async function handleOAuth(req: Request, url: URL, ctx: SignInContext, ip: string): Promise<Response | undefined> {
  const p = url.pathname;
  if (p === METADATA_PATH && req.method === "GET") return json(200, metadata(ctx.publicUrl()));
  if (p === JWKS_PATH && req.method === "GET") return Response.json(await publicJwks(ctx.store), { headers: { "cache-control": "public, max-age=300" } });
  if (p !== DEVICE_PATH && p !== TOKEN_PATH && p !== REVOKE_PATH) return undefined;
  if (req.method !== "POST") return oauthError("invalid_request", `use POST for ${p}`, 405);
  if (p === DEVICE_PATH) return deviceAuthorization(req, ctx, ip);
  if (p === TOKEN_PATH) return token(req, ctx, ip);
  return revoke(req, ctx);
}

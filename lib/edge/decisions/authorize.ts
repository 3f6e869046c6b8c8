// Who is asking for an application, and may they: the client's credentials become a
// Subject, and the application's policies decide. Every decision is written to the audit
// before the stream can open; a live session is re-checked the same way when access changes.
import { randomId } from "../../auth/secret.ts";
import { log } from "../../cli/log.ts";
import { addressGroup } from "../../policy/cidr.ts";
import { workloadLabel } from "../../policy/workload.ts";
import { decisionMessage, evaluate, type Decision, type Subject } from "../../policy/evaluate.ts";
import {
  authenticateServiceToken,
  browserSsh,
  findApp,
  getSignIn,
  listPolicies,
  revokedServiceTokens,
  userRevokedBefore,
  liveSigningKeyIds,
  writeAudit,
  type App,
  type BrowserSsh,
  type StoredPolicy,
  type Store,
} from "../../store/index.ts";
import { Close } from "../../wire/close.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER } from "../../wire/http.ts";
import { bearerToken } from "../../wire/bearer.ts";
import { verifyAppToken } from "../../auth/jwt.ts";
import { createDenialLimiter, type DenialLimiter } from "./denials.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";

export interface Rejection {
  code: number;
  reason: string;
}

export interface ClientAuth {
  host: string;
  ip: string;
  /** A label for logs, audit and the connector: `token:<name>` or the user's e-mail. */
  identity: string;
  /** The application (hostname or `*.zone`) whose policies decided. */
  app?: string;
  subject?: Subject;
  /** When the client's credential was issued (epoch ms), for user revocation. */
  issuedAt?: number;
  /** The sign-in (org session) a user's app token came from. */
  signIn?: string;
  /** The key that signed a user's app token: retiring it cuts the session. */
  tokenKey?: string;
  decision?: Decision;
  /** Set when the client was let through: the live session's id, also in the audit. */
  sessionId?: string;
  reject?: Rejection;
  /** When the checks began (epoch ms): a change to access after this may not be reflected. */
  decidedAt?: number;
  /** A browser terminal's live session: what it was opened under, re-checked with the rest. */
  terminal?: TerminalTerms;
  /** How long the application lets a cut stream wait to be resumed (0: not resumable). */
  resumeGraceMs?: number;
  /** A resume: the session it goes on (its first decision's session id), and how long its path
   * had been gone, as far as the audit shows; in the audit of this decision and of its end. */
  resumes?: { session: string; gapMs?: number };
}

export interface AuthorizeOptions {
  /** Let an allowed client through even when its decision cannot be written to the audit. Default: refuse it. */
  auditFailOpen?: boolean;
  /** What the client asks for: a stream (the default, which gets a session id) or an SSH certificate. */
  purpose?: "stream" | "ssh-certificate";
  /** Counts what is not audited: hostnames that are no application, denials past their address's limit. */
  metrics?: Pick<EdgeMetrics, "unknownHost" | "deniesUnaudited">;
  /** A client that resumes a stream: once its policies let it in, what it resumes, or why it may
   * not (its ticket); decided before the decision is audited, so that the row names it. */
  resume?: (auth: ClientAuth) => Promise<ClientAuth["resumes"] | Rejection>;
}

/**
 * An authenticated client. `issuedAt` (epoch ms) is when its credential was issued: for a
 * user's app token, the JWT's `iat` × 1000. A user credential issued before the user's
 * revocation (userRevokedBefore) is refused, and one without `issuedAt` is refused once the
 * user has been revoked at all.
 */
export type Identified = { subject: Subject; identity: string; issuedAt?: number; signIn?: string; tokenKey?: string };

/** The client's credentials as a Subject, or why they are not good enough. */
export async function identify(store: Store, req: Request, ip: string, host: string): Promise<Identified | { reject: Rejection; identity?: string }> {
  const id = req.headers.get(CLIENT_ID_HEADER);
  const secret = req.headers.get(CLIENT_SECRET_HEADER);
  if (id && secret) {
    const auth = await authenticateServiceToken(store, id, secret);
    // The id is not secret, and naming it in the audit shows which token was tried.
    const identity = `token:${auth ? ("token" in auth ? auth.token.name : auth.revoked.name) : id.slice(0, 64)}`;
    if (!auth) return { identity, reject: { code: Close.unauthenticated, reason: "the service token was refused: unknown id or wrong secret" } };
    if ("revoked" in auth) return { identity, reject: { code: Close.unauthenticated, reason: `the service token "${auth.revoked.name}" was revoked; ask an admin for a new one` } };
    return { subject: { serviceToken: { id: auth.token.id, name: auth.token.name }, ip }, identity };
  }
  // An app token from the browser sign-in, audience-bound to this hostname.
  const bearer = bearerToken(req.headers.get("authorization"));
  if (bearer) {
    let v = await verifyAppToken(store, bearer, host);
    // The sign-in the token came from may have ended early (logout, sign-out).
    if ("claims" in v && (await getSignIn(store, v.claims.sid))?.revokedAt !== undefined) v = { reason: "its sign-in session was ended" };
    if ("reason" in v) return { reject: { code: Close.unauthenticated, reason: `the sign-in token for ${host} was refused: ${v.reason}; sign in again with \`wicket access login ${host}\`` } };
    // A workload's token, from an exchanged ID token: no person, no sign-in to end; the policies judge its claims.
    if ("workload" in v) return { subject: { workload: v.workload.workload, ip }, identity: workloadLabel(v.workload.workload), issuedAt: v.workload.iat * 1000, signIn: v.workload.sid, tokenKey: v.kid };
    const c = v.claims;
    return { subject: { email: c.email, groups: c.groups, idp: c.idp, amr: c.amr, ip }, identity: c.email, issuedAt: c.iat * 1000, signIn: c.sid, tokenKey: v.kid };
  }
  return { reject: { code: Close.unauthenticated, reason: `sign-in required for ${host}: run \`wicket access login ${host}\`, or pass a service token with --id and --secret` } };
}

/** Why a user's credential no longer counts, or undefined when it does. */
export async function userRevoked(store: Store, subject: Subject, issuedAt: number | undefined, cache?: Map<string, number | undefined>): Promise<string | undefined> {
  if (!subject.email || subject.serviceToken) return undefined;
  const email = subject.email.toLowerCase();
  let before: number | undefined;
  if (cache?.has(email)) before = cache.get(email);
  else {
    before = await userRevokedBefore(store, email);
    cache?.set(email, before);
  }
  if (before === undefined || (issuedAt !== undefined && issuedAt >= before)) return undefined;
  return `the sign-in of ${subject.email} was revoked at ${new Date(before).toISOString()}; sign in again`;
}

/** Which application serves `host`, and what its policies say about `subject`. */
export async function decide(store: Store, host: string, subject: Subject): Promise<{ app?: App; policies: StoredPolicy[]; decision: Decision }> {
  const app = await findApp(store, host);
  if (!app) return { policies: [], decision: { allowed: false, explanation: noApp(host) } };
  const policies = await listPolicies(store, app.hostname);
  return { app, policies, decision: evaluate(policies, subject) };
}

const noApp = (host: string) => `the edge serves no application at ${host}; check the hostname`;

function auditDecision(store: Store, a: ClientAuth, allowed: boolean, reason: string) {
  const d = a.decision;
  return writeAudit(store, {
    kind: "decision",
    allowed,
    identity: a.identity || undefined,
    email: a.subject?.serviceToken ? undefined : a.subject?.email?.toLowerCase(),
    tokenId: a.subject?.serviceToken?.id,
    host: a.host,
    app: a.app,
    ip: a.ip,
    policyId: d?.policy?.id,
    policyName: d?.policy?.name,
    rule: d?.rule,
    reason,
    sessionId: a.sessionId,
    resumes: a.resumes?.session,
    gapMs: a.resumes?.gapMs,
  });
}

// One limiter per store, that is per edge: the router does not hand one in.
const denialLimiters = new WeakMap<Store, DenialLimiter>();
const denialLimiter = (store: Store) => denialLimiters.get(store) ?? denialLimiters.set(store, createDenialLimiter()).get(store)!;

/**
 * Writes a refusal to the audit and log, unless its address has had its share of denial rows
 * this minute (lib/edge/decisions/denials.ts); a failed write changes nothing, the client is refused anyway.
 */
async function refuse(store: Store, a: ClientAuth, reject: Rejection, reason = reject.reason, metrics?: AuthorizeOptions["metrics"]): Promise<ClientAuth> {
  const verdict = denialLimiter(store).admit(a.ip);
  if (!verdict.record) {
    metrics?.deniesUnaudited.inc();
    log.debug(`deny ${a.host}${a.identity ? ` for ${a.identity}` : ""} from ${a.ip} (not audited: too many denials from ${addressGroup(a.ip)}): ${reason}`);
    return { ...a, reject };
  }
  if (verdict.suppressedBefore) reason = `${reason} (and ${verdict.suppressedBefore} earlier denials from ${addressGroup(a.ip)} in a minute, not recorded one by one)`;
  if (verdict.network) reason = `${reason} (the edge's denial rows for this minute are used up: more denials from ${verdict.network} are counted, not recorded one by one)`;
  log.info(`deny ${a.host}${a.identity ? ` for ${a.identity}` : ""} from ${a.ip}: ${reason}`);
  try {
    await auditDecision(store, a, false, reason);
  } catch (e) {
    log.error(`audit: cannot record a denied connection to ${a.host}: ${(e as Error).message}`);
  }
  return { ...a, reject };
}

/** A client its policies let through that is refused all the same (an SSH certificate it cannot have), audited as a denial. */
export const refuseAllowed = (store: Store, a: ClientAuth, reason: string, metrics?: AuthorizeOptions["metrics"]) => refuse(store, a, { code: Close.denied, reason }, reason, metrics);

export async function authorizeClient(store: Store, req: Request, host: string, ip: string, opts: AuthorizeOptions = {}): Promise<ClientAuth> {
  const base: ClientAuth = { host, ip, identity: "", decidedAt: Date.now() };
  const app = await findApp(store, host);
  if (!app) {
    // Anyone can send any Host: a hostname that is no application is counted, not audited.
    opts.metrics?.unknownHost.inc();
    log.debug(`deny ${host.slice(0, 256)} from ${ip}: no such application`);
    return { ...base, reject: { code: Close.unknownHost, reason: noApp(host.slice(0, 256)) } };
  }
  base.app = app.hostname;
  base.resumeGraceMs = app.resumeGraceMs;

  const who = await identify(store, req, ip, host);
  if ("reject" in who) return refuse(store, { ...base, identity: who.identity ?? "" }, who.reject, undefined, opts.metrics);
  const auth: ClientAuth = { ...base, identity: who.identity, subject: who.subject, issuedAt: who.issuedAt, signIn: who.signIn, tokenKey: who.tokenKey };
  const revoked = await userRevoked(store, who.subject, who.issuedAt);
  if (revoked) return refuse(store, auth, { code: Close.unauthenticated, reason: revoked }, undefined, opts.metrics);

  const decision = evaluate(await listPolicies(store, app.hostname), who.subject);
  auth.decision = decision;
  if (!decision.allowed) return refuse(store, auth, { code: Close.denied, reason: decisionMessage(host, decision) }, decision.explanation, opts.metrics);

  if (opts.resume) {
    const r = await opts.resume(auth);
    if (r && "code" in r) return refuse(store, auth, r, undefined, opts.metrics);
    auth.resumes = r;
  }
  const forCert = opts.purpose === "ssh-certificate";
  if (!forCert) auth.sessionId = randomId("ses_");
  try {
    await auditDecision(store, auth, true, forCert ? `${decision.explanation}; an SSH certificate was asked for` : decision.explanation);
  } catch (e) {
    log.error(`audit: cannot record the connection of ${auth.identity} to ${host}: ${(e as Error).message}`);
    if (!opts.auditFailOpen) {
      return { ...auth, reject: { code: Close.unavailable, reason: "the edge cannot write its audit log, so it lets no one in; try again later" } };
    }
  }
  log.info(`allow ${host} for ${auth.identity} from ${ip} (${auth.sessionId ?? "SSH certificate"}${auth.resumes ? `, resuming ${auth.resumes.session}` : ""}): ${decision.explanation}`);
  return auth;
}

/** What a browser terminal was opened under: whether it is recorded, with keystrokes. */
export type TerminalTerms = { record: boolean; recordInput: boolean };

/** What a live session was let in with; `terminal` for a browser terminal. */
export type LiveCredential = { host: string; subject: Subject; issuedAt?: number; tokenKey?: string; sessionId?: string; terminal?: TerminalTerms };

/** Lookups shared by one pass over many live sessions. */
export type RecheckCache = {
  apps: Map<string, Promise<App | undefined>>;
  policies: Map<string, Promise<StoredPolicy[]>>;
  browserSsh: Map<string, Promise<BrowserSsh>>;
  revokedTokens?: Set<string>;
  userRevokedBefore: Map<string, number | undefined>;
  liveKeys?: Promise<Set<string>>;
  /** Sessions revoked through any node, and why. */
  revokedSessions?: Map<string, string>;
};

export const newRecheckCache = (): RecheckCache => ({ apps: new Map(), policies: new Map(), browserSsh: new Map(), userRevokedBefore: new Map() });

/** Why a terminal opened under `t` may not go on under the application's settings now, if it may not. */
function terminalRefused(app: string, t: TerminalTerms, now: BrowserSsh): string | undefined {
  if (!now.enabled) return `browser SSH was turned off for ${app}`;
  if (now.record && !t.record) return `${app} now records its terminal sessions, and this one was not recorded; reconnect for a recorded session`;
  if (now.recordInput && !t.recordInput) return `${app} now records the keystrokes of its terminal sessions, and this one's were not; reconnect for a recorded session`;
  return undefined;
}

export type Recheck = { ok: true } | { ok: false; reason: string; decision?: Decision };

/**
 * Whether a live session may go on, by the store as it is now: its service token still live,
 * its user not revoked since sign-in, its application still there, and the policies still
 * allowing it. `reason` says why not, for the client and the audit.
 */
export async function reauthorize(store: Store, s: LiveCredential, cache: RecheckCache = newRecheckCache()): Promise<Recheck> {
  const revoked = s.sessionId ? cache.revokedSessions?.get(s.sessionId) : undefined;
  if (revoked) return { ok: false, reason: revoked };
  const token = s.subject.serviceToken;
  if (token) {
    const revoked = cache.revokedTokens ?? (await revokedServiceTokens(store, [token.id]));
    if (revoked.has(token.id)) return { ok: false, reason: `service token "${token.name}" was revoked` };
  }
  const userReason = await userRevoked(store, s.subject, s.issuedAt, cache.userRevokedBefore);
  if (userReason) return { ok: false, reason: userReason };
  if (s.tokenKey && !(await (cache.liveKeys ??= liveSigningKeyIds(store))).has(s.tokenKey)) {
    return { ok: false, reason: "the key that signed its sign-in token was retired; sign in again" };
  }

  let app = cache.apps.get(s.host);
  if (!app) cache.apps.set(s.host, (app = findApp(store, s.host)));
  const a = await app;
  if (!a) return { ok: false, reason: `the application ${s.host} was removed` };
  let policies = cache.policies.get(a.hostname);
  if (!policies) cache.policies.set(a.hostname, (policies = listPolicies(store, a.hostname)));
  const decision = evaluate(await policies, s.subject);
  if (!decision.allowed) return { ok: false, reason: `policy change: ${decisionMessage(s.host, decision)}`, decision };
  if (s.terminal) {
    let settings = cache.browserSsh.get(a.hostname);
    if (!settings) cache.browserSsh.set(a.hostname, (settings = browserSsh(store, a.hostname)));
    const refused = terminalRefused(a.hostname, s.terminal, await settings);
    if (refused) return { ok: false, reason: refused };
  }
  return { ok: true };
}


// Who is asking for an application, and may they: the client's credentials become a
// Subject, and the application's policies decide. Every decision is logged with its reason.
import { log } from "../cli/log.ts";
import { evaluate, type Decision, type Subject } from "../policy/evaluate.ts";
import { findApp, getSession, listPolicies, verifyServiceToken, type Store } from "../store/index.ts";
import { Close } from "../wire/close.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER } from "../wire/http.ts";
import { verifyAppToken } from "../auth/jwt.ts";

export interface Rejection {
  code: number;
  reason: string;
}

export interface ClientAuth {
  host: string;
  ip: string;
  /** A label for logs and the connector: `token:<name>` or the user's e-mail. */
  identity: string;
  subject?: Subject;
  decision?: Decision;
  reject?: Rejection;
}

/** The client's credentials as a Subject, or why they are not good enough. */
export async function identify(store: Store, req: Request, ip: string, host: string): Promise<{ subject: Subject; identity: string } | { reject: Rejection }> {
  const id = req.headers.get(CLIENT_ID_HEADER);
  const secret = req.headers.get(CLIENT_SECRET_HEADER);
  if (id && secret) {
    const token = await verifyServiceToken(store, id, secret);
    if (!token) return { reject: { code: Close.unauthenticated, reason: "the service token was refused: unknown id or wrong secret" } };
    return { subject: { serviceToken: { id: token.id, name: token.name }, ip }, identity: `token:${token.name}` };
  }
  // An app token from the browser sign-in, audience-bound to this hostname.
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  if (bearer) {
    let v = await verifyAppToken(store, bearer[1]!, host);
    // The sign-in the token came from may have ended early (logout, sign-out, revocation).
    if (!("reason" in v) && (await getSession(store, v.claims.sid))?.revokedAt !== undefined) v = { reason: "its sign-in session was ended" };
    if ("reason" in v) return { reject: { code: Close.unauthenticated, reason: `the sign-in token for ${host} was refused: ${v.reason}; sign in again with \`wicket access login ${host}\`` } };
    const c = v.claims;
    return { subject: { email: c.email, groups: c.groups, idp: c.idp, amr: c.amr, ip }, identity: c.email };
  }
  return { reject: { code: Close.unauthenticated, reason: `sign-in required for ${host}: run \`wicket access login ${host}\`, or pass a service token with --id and --secret` } };
}

export async function authorizeClient(store: Store, req: Request, host: string, ip: string): Promise<ClientAuth> {
  const app = await findApp(store, host);
  if (!app) return { host, ip, identity: "", reject: { code: Close.unknownHost, reason: `the edge serves no application at ${host}; check the hostname` } };
  const who = await identify(store, req, ip, host);
  if ("reject" in who) {
    log.info(`deny ${host} from ${ip}: ${who.reject.reason}`);
    return { host, ip, identity: "", reject: who.reject };
  }
  const decision = evaluate(await listPolicies(store, app.hostname), who.subject);
  log.info(`${decision.allowed ? "allow" : "deny"} ${host} for ${who.identity} from ${ip}: ${decision.explanation}`);
  const base = { host, ip, identity: who.identity, subject: who.subject, decision };
  if (!decision.allowed) return { ...base, reject: { code: Close.denied, reason: `access to ${host} denied: ${decision.explanation}` } };
  return base;
}

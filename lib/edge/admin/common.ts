// What every admin route shares: its context, its errors (one sentence, a status), its JSON
// body and answers, and its audit row. The routes live one file per resource beside it.
import { EXIT, WicketError } from "../../cli/exit.ts";
import { log } from "../../cli/log.ts";
import { writeAudit, type AuditEntry, StoreError, type Revoked, type Store } from "../../store/index.ts";
import { adminName, type Admin } from "./authz.ts";
import type { EdgeAdmins } from "./people.ts";
import type { Connectors } from "../streams/connectors.ts";
import type { LiveSessions } from "../decisions/live-sessions.ts";
import { BODY_LIMITS, BodyRefused, readJson, senderVerified } from "../http/body.ts";
import { bearerToken } from "../../wire/bearer.ts";
import type { ClusterNode } from "../cluster/sessions.ts";
import type { Acme } from "../http/acme.ts";

export type AdminContext = {
  store: Store;
  /** The edge's public URL, written into tunnel credentials. */
  publicUrl: string;
  /** The edge's own CA certificate (self-signed TLS), bundled into tunnel credentials. */
  caPem?: string;
  /** Called after a zone is added or removed: the edge issues or drops its TLS certificate. */
  onZonesChanged(): Promise<void>;
  /** How long zone credentials issued here last (ms); default DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS. */
  credentialLifetimeMs?: number;
  /** This node's connector connections, counted per tunnel in listings. */
  connectors?: Connectors;
  /** This node's live sessions: cut on revocation and re-checked after policy changes. */
  sessions?: LiveSessions;
  /** This node in the cluster's registry (PostgreSQL); undefined on a single SQLite node. */
  node?: () => ClusterNode | undefined;
  /** With --tls acme: the certificates' orders (`edge cert renew`). */
  acme?: () => Acme | undefined;
  /** Who administers the whole edge (`admins:` in edge.yaml, `--admin`); nobody but admin tokens without it. */
  admins?: EdgeAdmins;
  /** The caller's address (the TCP peer, or X-Forwarded-For from a trusted proxy), for the audit. */
  ip?: string;
};

export const ADMIN_API_PREFIX = "/api/v1/";

export const STATUS: Record<StoreError["kind"], number> = { invalid: 400, "not-found": 404, conflict: 409, forbidden: 403 };

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  // no-store: responses can carry secrets that are shown once.
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

/** The body of a request whose admin token or zone credential has been checked. A zone
 * credential's routes take a name or two: they pass the form limit, and so its 5 s deadline. */
export async function readBody(req: Request, limit: number = BODY_LIMITS.admin): Promise<Record<string, unknown>> {
  let body: unknown;
  senderVerified(req, `bearer ${bearerToken(req.headers.get("authorization"))}`);
  try {
    body = await readJson(req, limit);
  } catch (e) {
    if (e instanceof BodyRefused) throw new HttpError(e.status, e.message);
    throw new HttpError(400, "the request body must be a JSON object");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the request body must be a JSON object");
  return body as Record<string, unknown>;
}

export function field(body: Record<string, unknown>, ...names: string[]): string {
  for (const n of names) if (typeof body[n] === "string" && body[n]) return body[n] as string;
  throw new HttpError(400, `the request body needs "${names[0]}" (a string)`);
}

export async function zonesChanged(ctx: AdminContext) {
  try {
    await ctx.onZonesChanged();
  } catch (e) {
    log.warn(`admin: the zone change is saved, but updating the edge's certificates failed: ${(e as Error).message}`);
  }
}

/** For the audit: the zone credentials revoked and tunnels deleted with a person. */
export const revokedWhat = (r: Revoked) =>
  (r.credentials.length ? `; revoked their zone credentials ${r.credentials.join(", ")}` : "") +
  (r.tunnels.length ? `; deleted their tunnels ${r.tunnels.join(", ")}` : "") +
  (r.disabled.length ? `; disabled the tunnels those credentials made: ${r.disabled.join(", ")}` : "") +
  (r.unrouted.length ? `; unrouted ${r.unrouted.join(", ")}` : "");

export type Route = (req: Request, ctx: AdminContext, arg: string, who: Admin, url: URL) => Promise<Response>;

/**
 * Logs and audits an admin action. The change is already made, so a failed audit write
 * cannot undo it: it is logged as an error for the operator to see.
 */
export async function record(ctx: AdminContext, who: Admin, action: string, reason: string, more: Partial<AuditEntry> = {}) {
  const name = adminName(who);
  log.info(`admin ${name}${who.ip ? ` from ${who.ip}` : ""}: ${reason}`);
  // a person: their e-mail and identity provider; a token: its name; and where the call came from
  const by: Partial<AuditEntry> = who.kind === "person" ? { identity: `${who.email} (${who.idp})`, email: who.email } : { identity: name };
  try {
    await writeAudit(ctx.store, { kind: "admin", actor: name, ...by, ip: who.ip, action, reason, ...more });
  } catch (e) {
    log.error(`audit: cannot record "${reason}" by admin ${name}: ${(e as Error).message}`);
  }
}

/** After a change that can take access away: re-check this node's live sessions; how many were cut. */
export const recheck = async (ctx: AdminContext) => (ctx.sessions ? await ctx.sessions.recheck() : 0);

export const optString = (b: Record<string, unknown>, k: string): string | undefined => {
  if (b[k] === undefined || b[k] === null || b[k] === "") return undefined;
  if (typeof b[k] !== "string") throw new HttpError(400, `"${k}" must be a string`);
  return b[k] as string;
};
export const optStrings = (b: Record<string, unknown>, k: string): string[] | undefined => {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === "string")) throw new HttpError(400, `"${k}" must be a list of strings`);
  return list as string[];
};
export const ruleList = (b: Record<string, unknown>, k: string) => (b[k] === undefined ? undefined : Array.isArray(b[k]) ? (b[k] as unknown[]) : [b[k]]);

/** Runs a route; store and usage errors become their status, anything else a logged 500. */
export async function answer(req: Request, url: URL, run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof StoreError) return json(STATUS[e.kind], { error: e.message });
    if (e instanceof HttpError) return json(e.status, { error: e.message });
    // Other user errors (a bad rule string, say) are the caller's to fix.
    if (e instanceof WicketError && e.exitCode === EXIT.usage) return json(400, { error: e.message });
    log.error(`admin API ${req.method} ${url.pathname} failed: ${(e as Error)?.message ?? e}`);
    log.debug((e as Error)?.stack ?? "");
    return json(500, { error: "the edge failed to handle this request; see its log" });
  }
}

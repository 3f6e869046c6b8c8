// The audit trail: every access decision, every session's end and every admin action, one
// row each. Rows are written before what they record takes effect where that is possible
// (a decision before its stream opens), queried by the admin API, and pruned after the
// retention period.
import type { BigIntColumn, Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";
import { invalid } from "./errors.ts";
import { inZonesCondition } from "./zones.ts";

export type AuditKind = "decision" | "session-end" | "admin";

export type AuditEntry = {
  kind: AuditKind;
  /** Decisions: whether the client was let through. */
  allowed?: boolean;
  /** Who: a user's e-mail, `token:<name>` for a service token, the admin token's name for admin actions. */
  identity?: string;
  email?: string;
  tokenId?: string;
  /** The hostname asked for, and the application (hostname or `*.zone`) whose policies decided. */
  host?: string;
  app?: string;
  /** The client's address: the TCP peer, or X-Forwarded-For from a trusted proxy. */
  ip?: string;
  policyId?: string;
  policyName?: string;
  /** The rule that decided, e.g. `include token:deploy`. */
  rule?: string;
  /** Why, in one sentence: the decision's explanation, why a session ended, what an admin did. */
  reason?: string;
  sessionId?: string;
  /** A resume's decision and end: the session it goes on (the first decision's `sessionId`). */
  resumes?: string;
  /** A resume's decision: how long the stream's path had been gone (since the end of its last
   * path, when this edge's audit has that end). */
  gapMs?: number;
  /** Session ends: bytes from the client to the origin, and back. */
  bytesToOrigin?: number;
  bytesToClient?: number;
  durationMs?: number;
  /** Admin actions: the admin token's name, what was done (`policy.add`), and to what. */
  actor?: string;
  action?: string;
  target?: string;
  /** Session ends of browser terminals: the recording of the session (`wicket edge recording export`). */
  recording?: string;
};

/** One resume of a session, as its start's record lists it. */
export type Resumption = { at: number; from?: string; gapMs?: number; sessionId?: string };

/** `resumptions`: on a session's first decision, the resumes of it (foldResumptions). */
export type AuditRecord = AuditEntry & { id: string; at: number; resumptions?: Resumption[] };

export type AuditQuery = {
  /** Epoch ms; only records at or after it. */
  since?: number;
  /** Only records whose id sorts after this one (following the trail). */
  after?: string;
  /** An e-mail, a service token's name or id, or an admin token's name: records by or about them. */
  user?: string;
  /** The hostname asked for, or the application's (`*.zone`). */
  host?: string;
  /** Only decisions that denied. */
  denied?: boolean;
  kind?: AuditKind;
  /** One session: its decision, the resumes of it and the ends of each. */
  session?: string;
  /** Only records whose hostname (the application's, else the one asked for, else an admin
   * action's target) lies in one of these zones, by zoneFor: a zone admin's view. Applied
   * before the limit. */
  inZones?: string[];
  /** At most this many, the newest; default 1000. */
  limit?: number;
};

const COLUMNS: [keyof AuditEntry, string][] = [
  ["kind", "kind"],
  ["allowed", "allowed"],
  ["identity", "identity"],
  ["email", "email"],
  ["tokenId", "token_id"],
  ["host", "host"],
  ["app", "app"],
  ["ip", "ip"],
  ["policyId", "policy_id"],
  ["policyName", "policy_name"],
  ["rule", "rule"],
  ["reason", "reason"],
  ["sessionId", "session_id"],
  ["resumes", "resumes"],
  ["gapMs", "gap_ms"],
  ["bytesToOrigin", "bytes_to_origin"],
  ["bytesToClient", "bytes_to_client"],
  ["durationMs", "duration_ms"],
  ["actor", "actor"],
  ["action", "action"],
  ["target", "target"],
  ["recording", "recording_id"],
];
const NUMERIC = new Set<keyof AuditEntry>(["bytesToOrigin", "bytesToClient", "durationMs", "gapMs"]);

// Much of what a record holds comes from whoever connected (a Host header, a token id, the
// reason that repeats them): each text is cut to a bound, in characters, so no row grows
// with what a client sends.
const MAX_TEXT = 1024;
const MAX_REASON = 2048;
const bounded = (v: string, max: number) => (v.length > max ? `${v.slice(0, max - 1)}…` : v);

// Ids sort in the order records were made on one node: the time, a per-process counter and
// a random tail (so that two nodes writing in the same millisecond do not collide).
let seq = 0;
function auditId(at: number): string {
  seq = (seq + 1) % 36 ** 4;
  const rand = Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex");
  return `aud_${at.toString(36).padStart(9, "0")}${seq.toString(36).padStart(4, "0")}${rand}`;
}

/** Writes one record; throws if the store cannot take it (callers decide whether that refuses the action). */
export async function writeAudit(store: Store, entry: AuditEntry, at = Date.now()): Promise<AuditRecord> {
  const id = auditId(at);
  const row: Record<string, unknown> = { id, at };
  for (const [key, col] of COLUMNS) {
    const v = entry[key];
    row[col] = v === undefined ? null : key === "allowed" ? (v ? 1 : 0) : typeof v === "string" ? bounded(v, key === "reason" ? MAX_REASON : MAX_TEXT) : v;
  }
  await store.sql`INSERT INTO audit ${store.sql(row)}`;
  return { ...entry, id, at };
}

/** A row of the audit table: its id and time, and a column per entry field (COLUMNS), NULL where unused. */
type AuditRow = { id: string; at: BigIntColumn; [column: string]: string | number | null };

function toRecord(r: AuditRow): AuditRecord {
  const rec: Record<string, unknown> = { id: r.id, at: ms(r.at) };
  for (const [key, col] of COLUMNS) {
    const v = r[col];
    if (v === null || v === undefined) continue;
    rec[key] = key === "allowed" ? Number(v) === 1 : NUMERIC.has(key) ? msOrUndefined(v) : v;
  }
  return rec as AuditRecord;
}

export const MAX_AUDIT_QUERY = 10_000;

/** Records that match, oldest first (the newest `limit` of them). */
export async function queryAudit(store: Store, q: AuditQuery = {}): Promise<AuditRecord[]> {
  const limit = q.limit ?? 1000;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_QUERY) throw invalid(`the limit must be a whole number from 1 to ${MAX_AUDIT_QUERY}`);
  const sql = store.sql;
  const where = [sql`1 = 1`];
  if (q.since !== undefined) where.push(sql`at >= ${q.since}`);
  if (q.after) where.push(sql`id > ${q.after}`);
  if (q.kind) where.push(sql`kind = ${q.kind}`);
  if (q.session) where.push(sql`(session_id = ${q.session} OR resumes = ${q.session})`);
  if (q.denied) where.push(sql`kind = 'decision' AND allowed = 0`);
  if (q.user) {
    const u = q.user.trim();
    where.push(sql`(email = ${u.toLowerCase()} OR identity = ${u} OR identity = ${`token:${u}`} OR token_id = ${u} OR actor = ${u} OR target = ${u})`);
  }
  if (q.host) {
    const h = q.host.trim().toLowerCase();
    where.push(sql`(host = ${h} OR app = ${h})`);
  }
  if (q.inZones) {
    const all = ((await sql`SELECT name FROM zones`) as { name: string }[]).map((z) => z.name);
    where.push(inZonesCondition(sql, sql`COALESCE(app, host, target)`, q.inZones, all));
  }
  const cond = where.reduce((a, b) => sql`${a} AND ${b}`);
  const rows: AuditRow[] = await sql`SELECT * FROM (SELECT * FROM audit WHERE ${cond} ORDER BY id DESC LIMIT ${limit}) AS newest ORDER BY id`;
  return rows.map(toRecord);
}

/** Each resume's decision folded into the record of the decision that started its session, as
 * `resumptions` (when that record is among `records`): the session reads once, with its gaps. */
export function foldResumptions(records: AuditRecord[]): AuditRecord[] {
  const starts = new Map(records.filter((r) => r.kind === "decision" && r.allowed && r.sessionId && !r.resumes).map((r) => [r.sessionId!, r]));
  return records.filter((r) => {
    const start = r.kind === "decision" && r.allowed && r.resumes ? starts.get(r.resumes) : undefined;
    if (!start) return true;
    (start.resumptions ??= []).push({ at: r.at, from: r.ip, gapMs: r.gapMs, sessionId: r.sessionId });
    return false;
  });
}

/** How long ago the last path of `session` (its first decision's session id) ended, if this
 * audit has that end: the end of a path since the session's latest decision, itself or a resume. */
export async function resumeGap(store: Store, session: string, now = Date.now()): Promise<number | undefined> {
  const [row]: { ended: BigIntColumn | null }[] = await store.sql`
    SELECT MAX(at) AS ended FROM audit
    WHERE kind = 'session-end' AND (session_id = ${session} OR resumes = ${session})
      AND at >= (SELECT MAX(at) FROM audit WHERE kind = 'decision' AND allowed = 1 AND (session_id = ${session} OR resumes = ${session}))`;
  const ended = msOrUndefined(row?.ended ?? null);
  return ended === undefined ? undefined : Math.max(0, now - ended);
}

/** Removes records older than `before` (epoch ms); returns how many went. */
export async function pruneAudit(store: Store, before: number): Promise<number> {
  // a revocation matters only while the audit still shows its session open
  await store.sql`DELETE FROM session_revocations WHERE revoked_at < ${before}`;
  const [row]: { n: BigIntColumn }[] = await store.sql`SELECT COUNT(*) AS n FROM audit WHERE at < ${before}`;
  if (Number(row.n) === 0) return 0;
  await store.sql`DELETE FROM audit WHERE at < ${before}`;
  return Number(row.n);
}

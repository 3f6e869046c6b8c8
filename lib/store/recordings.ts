// Recordings of browser terminal sessions: asciicast v2 text (a JSON header line, then one
// JSON event line each), appended while the session runs, pruned after the retention period.
import { randomId } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";
import { invalid } from "./errors.ts";

export type Recording = {
  id: string;
  sessionId: string;
  app: string;
  host: string;
  identity: string;
  email?: string;
  principal: string;
  startedAt: number;
  /** Unset while the session runs. */
  endedAt?: number;
  /** Bytes of asciicast text so far. */
  bytes: number;
  /** Whether keystrokes are in it (`app edit --record-input`). */
  input: boolean;
};

type Row = { id: string; session_id: string; app: string; host: string; identity: string; email: string | null; principal: string; started_at: BigIntColumn; ended_at: BigIntColumn | null; bytes: BigIntColumn; input: number };

const toRecording = (r: Row): Recording => ({
  id: r.id,
  sessionId: r.session_id,
  app: r.app,
  host: r.host,
  identity: r.identity,
  email: r.email ?? undefined,
  principal: r.principal,
  startedAt: ms(r.started_at),
  endedAt: msOrUndefined(r.ended_at),
  bytes: Number(r.bytes),
  input: Number(r.input) === 1,
});

/** Every column but the text. */
const columns = (sql: Store["sql"]) => sql`id, session_id, app, host, identity, email, principal, started_at, ended_at, bytes, input`;

/** Starts a recording with its header line; throws when the store cannot take it (the session must not start). */
export async function startRecording(store: Store, r: Omit<Recording, "id" | "startedAt" | "bytes" | "endedAt">, header: string, startedAt = Date.now()): Promise<Recording> {
  const id = randomId("rec_");
  await store.sql`INSERT INTO recordings (id, session_id, app, host, identity, email, principal, started_at, bytes, input, data)
    VALUES (${id}, ${r.sessionId}, ${r.app}, ${r.host}, ${r.identity}, ${r.email ?? null}, ${r.principal}, ${startedAt}, ${header.length}, ${r.input ? 1 : 0}, ${header})`;
  return { ...r, id, startedAt, bytes: header.length };
}

/** Appends event lines as chunk `seq` (0, 1, … in the order they were made), without
 * touching what is already stored; throws when the store cannot take them (the session must
 * end). A recording pruned meanwhile takes no more chunks. */
export async function appendRecording(store: Store, id: string, seq: number, text: string): Promise<void> {
  await store.sql`INSERT INTO recording_chunks (recording_id, seq, data) SELECT ${id}, ${seq}, ${text} WHERE EXISTS (SELECT 1 FROM recordings WHERE id = ${id})`;
  await store.sql`UPDATE recordings SET bytes = bytes + ${text.length} WHERE id = ${id}`;
}

export async function finishRecording(store: Store, id: string, endedAt = Date.now()): Promise<void> {
  await store.sql`UPDATE recordings SET ended_at = ${endedAt} WHERE id = ${id}`;
}

export type RecordingQuery = { user?: string; host?: string; limit?: number };

/** Newest first. */
export async function listRecordings(store: Store, q: RecordingQuery = {}): Promise<Recording[]> {
  const limit = q.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw invalid("the limit must be a whole number from 1 to 10000");
  const sql = store.sql;
  const where = [sql`1 = 1`];
  if (q.user) where.push(sql`(email = ${q.user.trim().toLowerCase()} OR identity = ${q.user.trim()} OR principal = ${q.user.trim()})`);
  if (q.host) where.push(sql`(host = ${q.host.trim().toLowerCase()} OR app = ${q.host.trim().toLowerCase()})`);
  const cond = where.reduce((a, b) => sql`${a} AND ${b}`);
  const rows: Row[] = await sql`SELECT ${columns(sql)} FROM recordings WHERE ${cond} ORDER BY started_at DESC LIMIT ${limit}`;
  return rows.map(toRecording);
}

export async function getRecording(store: Store, id: string): Promise<Recording | undefined> {
  const [row]: Row[] = await store.sql`SELECT ${columns(store.sql)} FROM recordings WHERE id = ${id}`;
  return row ? toRecording(row) : undefined;
}

/** The whole asciicast text of a recording: its header, then its chunks in order. */
export async function recordingText(store: Store, id: string): Promise<string> {
  const [head]: { data: string }[] = await store.sql`SELECT data FROM recordings WHERE id = ${id}`;
  const chunks: { data: string }[] = await store.sql`SELECT data FROM recording_chunks WHERE recording_id = ${id} ORDER BY seq`;
  return (head?.data ?? "") + chunks.map((c) => c.data).join("");
}

/** Removes recordings that started before `before` (epoch ms), their chunks first; returns how
 * many went. (An append already past its check when the recording goes may leave one chunk.) */
export async function pruneRecordings(store: Store, before: number): Promise<number> {
  await store.sql`DELETE FROM recording_chunks WHERE recording_id IN (SELECT id FROM recordings WHERE started_at < ${before})`;
  const rows: { id: string }[] = await store.sql`DELETE FROM recordings WHERE started_at < ${before} RETURNING id`;
  return rows.length;
}

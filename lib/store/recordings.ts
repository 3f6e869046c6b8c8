// Recordings of browser terminal sessions: an asciicast v2 header line, then chunks of events
// appended while the session runs (stored as bytes, recording-events.ts; a release before kept
// asciicast lines, which read as they are), pruned after the retention period.
import { randomId } from "../auth/secret.ts";
import { castLines } from "./recording-events.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";
import { invalid } from "./errors.ts";
import { inZonesCondition } from "./zones.ts";

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
  /** Bytes stored so far: the header, and the events (asciicast text in recordings of a release before). */
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

/** Starts a recording with its header line; throws when the store cannot take it (the session
 * must not start). It counts towards the zone its application is in now. */
export async function startRecording(store: Store, r: Omit<Recording, "id" | "startedAt" | "bytes" | "endedAt">, header: string, startedAt = Date.now()): Promise<Recording> {
  const id = randomId("rec_");
  await store.sql`INSERT INTO recordings (id, session_id, app, host, identity, email, principal, started_at, bytes, input, data, zone)
    VALUES (${id}, ${r.sessionId}, ${r.app}, ${r.host}, ${r.identity}, ${r.email ?? null}, ${r.principal}, ${startedAt}, ${header.length}, ${r.input ? 1 : 0}, ${header},
      (SELECT zone FROM apps WHERE hostname = ${r.app}))`;
  return { ...r, id, startedAt, bytes: header.length };
}

/** Appends events as chunk `seq` (0, 1, … in the order they were made), without touching what
 * is already stored: bytes (recording-events.ts), or asciicast lines as a release before wrote
 * them. Throws when the store cannot take them (the session must end). A recording pruned
 * meanwhile takes no more chunks. */
export async function appendRecording(store: Store, id: string, seq: number, events: Uint8Array | string): Promise<void> {
  const [data, bin] = typeof events === "string" ? [events, null] : ["", events];
  await store.sql`INSERT INTO recording_chunks (recording_id, seq, data, events) SELECT ${id}, ${seq}, ${data}, ${bin} WHERE EXISTS (SELECT 1 FROM recordings WHERE id = ${id})`;
  await store.sql`UPDATE recordings SET bytes = bytes + ${events.length} WHERE id = ${id}`;
}

/** What the recordings of `zone` take in the store now, in bytes (those from before zones were
 * noted on recordings count towards their application's zone as the upgrade found it). */
export async function zoneRecordingBytes(store: Store, zone: string): Promise<number> {
  const [row]: { n: BigIntColumn | null }[] = await store.sql`SELECT SUM(bytes) AS n FROM recordings WHERE zone = ${zone}`;
  return Number(row?.n ?? 0);
}

export async function finishRecording(store: Store, id: string, endedAt = Date.now()): Promise<void> {
  await store.sql`UPDATE recordings SET ended_at = ${endedAt} WHERE id = ${id}`;
}

/** `inZones`: only recordings whose hostname lies in one of these zones, by zoneFor (a zone admin's view), applied before the limit. */
export type RecordingQuery = { user?: string; host?: string; inZones?: string[]; limit?: number };

/** Newest first. */
export async function listRecordings(store: Store, q: RecordingQuery = {}): Promise<Recording[]> {
  const limit = q.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw invalid("the limit must be a whole number from 1 to 10000");
  const sql = store.sql;
  const where = [sql`1 = 1`];
  if (q.user) where.push(sql`(email = ${q.user.trim().toLowerCase()} OR identity = ${q.user.trim()} OR principal = ${q.user.trim()})`);
  if (q.host) where.push(sql`(host = ${q.host.trim().toLowerCase()} OR app = ${q.host.trim().toLowerCase()})`);
  if (q.inZones) {
    const all = ((await sql`SELECT name FROM zones`) as { name: string }[]).map((z) => z.name);
    where.push(inZonesCondition(sql, sql`host`, q.inZones, all));
  }
  const cond = where.reduce((a, b) => sql`${a} AND ${b}`);
  const rows: Row[] = await sql`SELECT ${columns(sql)} FROM recordings WHERE ${cond} ORDER BY started_at DESC LIMIT ${limit}`;
  return rows.map(toRecording);
}

export async function getRecording(store: Store, id: string): Promise<Recording | undefined> {
  const [row]: Row[] = await store.sql`SELECT ${columns(store.sql)} FROM recordings WHERE id = ${id}`;
  return row ? toRecording(row) : undefined;
}

/** Chunks read from the store at a time, while a recording is read out: a chunk is at most
 * about a MiB (the recorder's flush), though one of a release before could be larger. */
const CHUNKS_AT_ONCE = 2;

/** A recording as asciicast v2, piece by piece: the header, then each chunk's lines; nothing
 * when there is no such recording. Reads a few chunks at a time, so a long recording is never
 * whole in memory. */
export async function* recordingCast(store: Store, id: string): AsyncGenerator<string> {
  const [head]: { data: string }[] = await store.sql`SELECT data FROM recordings WHERE id = ${id}`;
  if (!head) return;
  yield head.data;
  const lines = castLines();
  for (let after = -1; ; ) {
    const rows: { seq: number; data: string; events: Uint8Array | null }[] =
      await store.sql`SELECT seq, data, events FROM recording_chunks WHERE recording_id = ${id} AND seq > ${after} ORDER BY seq LIMIT ${CHUNKS_AT_ONCE}`;
    for (const r of rows) yield r.events ? lines(r.events) : r.data;
    if (rows.length < CHUNKS_AT_ONCE) return;
    after = Number(rows.at(-1)!.seq);
  }
}

/** The whole asciicast text of a recording (for small ones: an export streams recordingCast). */
export async function recordingText(store: Store, id: string): Promise<string> {
  let text = "";
  for await (const piece of recordingCast(store, id)) text += piece;
  return text;
}

/** Removes recordings that started before `before` (epoch ms), their chunks first; returns how
 * many went. (An append already past its check when the recording goes may leave one chunk.) */
export async function pruneRecordings(store: Store, before: number): Promise<number> {
  await store.sql`DELETE FROM recording_chunks WHERE recording_id IN (SELECT id FROM recordings WHERE started_at < ${before})`;
  const rows: { id: string }[] = await store.sql`DELETE FROM recordings WHERE started_at < ${before} RETURNING id`;
  return rows.length;
}

// A browser terminal session's recording: an asciicast v2 header, then events ("o" output, "i"
// input, "r" resize as "COLSxROWS", "m" a marker), buffered here as bytes and appended to the
// store every FLUSH_MS or each FLUSH_BYTES. Fail closed, like the audit: a recording that
// cannot start stops the session from starting, and one that cannot be written ends it
// (`failed` says why).
//
// Limits: a recording takes at most its application's limit of the store (the edge's default
// 64 MiB), and the recordings of a zone at most the zone limit (default 4 GiB). At either, the
// recording ends with a marker that says so, and the session ends with it: a recorded session
// that went on unrecorded would let someone print the limit's worth of noise and then work
// unseen. A new session starts a new recording (within the zone's limit).
import { formatBytes as size } from "../../cli/values.ts";
import { log } from "../../cli/log.ts";
import { appendRecording, encodeEvent, finishRecording, startRecording, zoneRecordingBytes, type EventCode, type Recording, type Store } from "../../store/index.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";

const FLUSH_MS = 500;
/** A chunk goes to the store once this much waits, before the timer: a chunk row stays small. */
const FLUSH_BYTES = 1024 * 1024;
/** How often a running recording looks at its zone's total (a SUM over the zone's recordings). */
const ZONE_CHECK_MS = 5_000;
/** Kept free under the limit for the final marker. */
const MARKER_ROOM = 1024;

export const DEFAULT_RECORDING_LIMIT = 64 * 1024 * 1024;
export const DEFAULT_ZONE_RECORDING_LIMIT = 4 * 1024 * 1024 * 1024;

export type RecordingLimits = { recording: number; zone: number };

/** The refusal of a recording (and so of its session) at its zone's limit, in the person's words. */
export class RecordingRefused extends Error {}

/** A size in words: "8 MiB", "1.5 GiB". */
const sizeWords = (n: number) => size(n).replace(/\.0 /, " ");

function asciicastHeader(o: { cols: number; rows: number; at: number; title: string }): string {
  return JSON.stringify({ version: 2, width: o.cols, height: o.rows, timestamp: Math.floor(o.at / 1000), title: o.title, env: { TERM: "xterm-256color" } }) + "\n";
}

export type Recorder = {
  id: string;
  output(bytes: Uint8Array): void;
  input(bytes: Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** Writes what is left and marks the recording finished. */
  close(): Promise<void>;
};

type RecordingStart = Omit<Recording, "id" | "startedAt" | "bytes" | "endedAt"> & { cols: number; rows: number; zone?: string };

/** Starts a recording (throws when the store cannot take it, RecordingRefused at the zone's limit);
 * `failed` is called once if a later write fails or a limit is reached, and the session must end. */
export async function startRecorder(
  store: Store,
  r: RecordingStart,
  limits: RecordingLimits,
  metrics: Pick<EdgeMetrics, "recordings" | "recordingBytes">,
  failed: (reason: string) => void,
): Promise<Recorder> {
  const zoneFull = async () => r.zone !== undefined && (await zoneRecordingBytes(store, r.zone)) >= limits.zone;
  const zoneWords = `the recordings of zone ${r.zone} reached its limit of ${sizeWords(limits.zone)}`;
  if (await zoneFull()) throw new RecordingRefused(`This application records its sessions, and ${zoneWords}, so the session does not start; an admin can remove old recordings or raise the limit.`);
  const started = performance.now();
  const at = Date.now();
  const rec = await startRecording(store, r, asciicastHeader({ cols: r.cols, rows: r.rows, at, title: `${r.identity} as ${r.principal} on ${r.host}` }), at);
  metrics.recordings.inc();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** What the store holds of it, or will once the writes under way are done. */
  let stored = rec.bytes;
  let seq = 0;
  let writing: Promise<void> = Promise.resolve();
  let stopped = false;
  let zoneCheckedAt = performance.now();
  const t = () => (performance.now() - started) / 1000;

  const ENDS = "and a recorded session ends with its recording; reconnect to go on in a new one";
  /** The recording takes nothing more: `why` ends it (with a marker, at a limit) and the session. */
  const stop = (why: string, atLimit: boolean) => {
    if (stopped) return;
    if (atLimit) {
      pending.push(encodeEvent(t(), "m", new TextEncoder().encode(`${why}; the session was ended`)));
      void flush();
    }
    stopped = true;
    log.warn(`recording ${rec.id}: ${why}; ending its session`);
    failed(`${why[0]!.toUpperCase()}${why.slice(1)}, ${ENDS}.`);
  };
  const flush = () => {
    if (!pending.length || stopped) return writing;
    const chunk = Buffer.concat(pending);
    const n = seq++;
    stored += pendingBytes;
    pending = [];
    pendingBytes = 0;
    const checkZone = r.zone !== undefined && performance.now() - zoneCheckedAt >= ZONE_CHECK_MS;
    if (checkZone) zoneCheckedAt = performance.now();
    writing = writing.then(async () => {
      try {
        await appendRecording(store, rec.id, n, chunk);
        metrics.recordingBytes.inc({}, chunk.byteLength);
        if (checkZone && (await zoneFull())) stop(zoneWords, true);
      } catch (e) {
        if (stopped) return;
        log.error(`recording ${rec.id}: cannot write to the store: ${(e as Error).message}`);
        stop(`the session's recording could not be written (${(e as Error).message})`, false);
      }
    });
    return writing;
  };
  const timer = setInterval(flush, FLUSH_MS);
  timer.unref?.();
  const add = (code: EventCode, payload: Uint8Array) => {
    if (stopped) return;
    const event = encodeEvent(t(), code, payload);
    if (stored + pendingBytes + event.byteLength > limits.recording - MARKER_ROOM) return stop(`the session's recording reached this application's limit of ${sizeWords(limits.recording)}`, true);
    pending.push(event);
    pendingBytes += event.byteLength;
    if (pendingBytes >= FLUSH_BYTES) void flush();
  };
  return {
    id: rec.id,
    output: (b) => add("o", b),
    input: (b) => add("i", b),
    resize: (cols, rows) => add("r", new TextEncoder().encode(`${cols}x${rows}`)),
    async close() {
      clearInterval(timer);
      await flush();
      try {
        await finishRecording(store, rec.id);
      } catch (e) {
        log.error(`recording ${rec.id}: cannot mark it finished: ${(e as Error).message}`);
      }
    },
  };
}

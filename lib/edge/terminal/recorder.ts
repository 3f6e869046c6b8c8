// A browser terminal session's recording: asciicast v2 (a header line, then `[t, code, data]`
// lines: "o" output, "i" input, "r" resize as "COLSxROWS"), buffered here and appended to the
// store every FLUSH_MS. Fail closed, like the audit: a recording that cannot start stops the
// session from starting, and one that cannot be written ends it (`failed` says why).
import { log } from "../../cli/log.ts";
import { appendRecording, finishRecording, startRecording, type Recording, type Store } from "../../store/index.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";

const FLUSH_MS = 500;

function asciicastHeader(o: { cols: number; rows: number; at: number; title: string }): string {
  return JSON.stringify({ version: 2, width: o.cols, height: o.rows, timestamp: Math.floor(o.at / 1000), title: o.title, env: { TERM: "xterm-256color" } }) + "\n";
}

const asciicastEvent = (seconds: number, code: "o" | "i" | "r", data: string) => JSON.stringify([Math.round(seconds * 1e6) / 1e6, code, data]) + "\n";

export type Recorder = {
  id: string;
  output(bytes: Uint8Array): void;
  input(bytes: Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** Writes what is left and marks the recording finished. */
  close(): Promise<void>;
};

/** Starts a recording (throws when the store cannot take it); `failed` is called once if a later write fails. */
export async function startRecorder(
  store: Store,
  r: Omit<Recording, "id" | "startedAt" | "bytes" | "endedAt"> & { cols: number; rows: number },
  metrics: Pick<EdgeMetrics, "recordings" | "recordingBytes">,
  failed: (reason: string) => void,
): Promise<Recorder> {
  const started = performance.now();
  const at = Date.now();
  const rec = await startRecording(store, r, asciicastHeader({ cols: r.cols, rows: r.rows, at, title: `${r.identity} as ${r.principal} on ${r.host}` }), at);
  metrics.recordings.inc();
  let pending = "";
  let seq = 0;
  let writing: Promise<void> = Promise.resolve();
  let broken = false;
  // output arrives in chunks that may split a UTF-8 character; the decoder keeps the tail
  const outText = new TextDecoder("utf-8", { fatal: false });
  const inText = new TextDecoder("utf-8", { fatal: false });
  const t = () => (performance.now() - started) / 1000;
  const flush = () => {
    if (!pending || broken) return writing;
    const text = pending;
    const n = seq++;
    pending = "";
    writing = writing.then(async () => {
      try {
        await appendRecording(store, rec.id, n, text);
        metrics.recordingBytes.inc({}, text.length);
      } catch (e) {
        if (broken) return;
        broken = true;
        log.error(`recording ${rec.id}: cannot write to the store: ${(e as Error).message}`);
        failed(`the session's recording could not be written (${(e as Error).message}); recorded sessions end when their recording fails`);
      }
    });
    return writing;
  };
  const timer = setInterval(flush, FLUSH_MS);
  timer.unref?.();
  const add = (line: string) => {
    if (!broken) pending += line;
  };
  return {
    id: rec.id,
    output: (b) => add(asciicastEvent(t(), "o", outText.decode(b, { stream: true }))),
    input: (b) => add(asciicastEvent(t(), "i", inText.decode(b, { stream: true }))),
    resize: (cols, rows) => add(asciicastEvent(t(), "r", `${cols}x${rows}`)),
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

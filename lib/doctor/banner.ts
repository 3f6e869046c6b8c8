// An SSH server speaks first: `SSH-2.0-<software>\r\n` (RFC 4253 4.2). Reading the first line
// of a connection tells an sshd from another server, or from one that says nothing. Read
// through the edge for `wicket doctor`, straight from the origin for `wicket tunnel doctor`.
import { connect } from "node:net";
import { bridge } from "../access/dial.ts";

export const BANNER_TIMEOUT_MS = 1_500;
/** RFC 4253: the identification line is at most 255 bytes, CR LF included. */
const MAX_LINE = 255;

export type Banner = { ssh: string } | { other: string } | { silent: true } | { closed: true };

const shown = (bytes: Uint8Array) => JSON.stringify(Buffer.from(bytes).toString("latin1").slice(0, 60));

/** What the bytes read so far say, or undefined until a whole line (or enough bytes) arrived. */
export function judgeBanner(bytes: Uint8Array): Banner | undefined {
  const nl = bytes.indexOf(0x0a);
  if (nl < 0 && bytes.length < MAX_LINE) return undefined;
  const line = bytes.subarray(0, nl < 0 ? MAX_LINE : nl);
  const text = Buffer.from(line).toString("latin1").replace(/\r$/, "");
  return text.startsWith("SSH-") ? { ssh: text } : { other: shown(line) };
}

/** Collects bytes until judgeBanner decides, the source ends, or the time is up. */
function collector(timeoutMs: number) {
  let got = new Uint8Array(0);
  let settle!: (b: Banner) => void;
  const result = new Promise<Banner>((r) => (settle = r));
  const timer = setTimeout(() => settle(got.length ? { other: shown(got) } : { silent: true }), timeoutMs);
  return {
    result,
    /** No more waiting: the caller has its answer another way (an error). */
    stop: () => clearTimeout(timer),
    push(bytes: Uint8Array) {
      const next = new Uint8Array(got.length + bytes.length);
      next.set(got);
      next.set(bytes, got.length);
      got = next;
      const b = judgeBanner(got);
      if (b) settle(b);
    },
    end: () => settle(got.length ? { other: shown(got) } : { closed: true }),
  };
}

/** The first line the origin sends through an open client WebSocket (from dialApp); closes it after. Rejects with the edge's close error. */
export async function bannerThrough(ws: WebSocket, hostname: string, timeoutMs = BANNER_TIMEOUT_MS): Promise<Banner> {
  const c = collector(timeoutMs);
  const b = bridge(ws, { write: (bytes) => (c.push(bytes), true), end: c.end }, hostname);
  // a close error that comes before the first line is the answer
  const closed = b.done.then(() => c.end());
  try {
    return await Promise.race([c.result, closed.then(() => c.result)]);
  } finally {
    c.stop();
    b.close();
  }
}

/** The first line a TCP server at host:port sends; rejects when it cannot be reached. */
export function bannerOf(host: string, port: number, timeoutMs = BANNER_TIMEOUT_MS): Promise<Banner> {
  return new Promise((resolve, reject) => {
    const c = collector(timeoutMs);
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error("timed out connecting"), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    s.once("connect", () => clearTimeout(timer));
    s.on("data", (d: Buffer) => c.push(d));
    s.once("end", c.end);
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once("error", c.stop);
    c.result.then((b) => {
      c.stop();
      s.destroy();
      resolve(b);
    });
  });
}

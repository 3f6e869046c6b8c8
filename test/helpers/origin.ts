// TCP origins for the bulk test and the bench, and the clients that drive them. The servers
// run in their own process (`bun test/helpers/origin.ts serve`), so the side that measures
// never shares an event loop with the side that serves.
//
// The first byte a client sends picks what its connection does:
//   'S' sink:          read to EOF, answer the byte count (u64)
//   'H' hashing sink:  read to EOF, answer the byte count (u64) and the bytes' sha256
//   'L' slow sink:     a hashing sink that stops reading for 10 ms after every MiB, so the
//                      sender's writes to it fill the socket and come back short
//   'D' source:        u64 N follows; send N bytes (one random block, repeated), then EOF
//   'G' hashed source: u64 N follows; send N fresh random bytes, then their sha256, then EOF
//   'E' echo:          every later byte comes back; EOF answers EOF
//
//   bun test/helpers/origin.ts serve          prints "origin listening on 127.0.0.1 port N"
//   bun test/helpers/origin.ts upload PORT N  sends N bytes to a sink at PORT (the bench's
//                                             background bulk copy); prints progress lines
import type { Socket } from "bun";

export const Mode = { sink: "S", hashSink: "H", slowSink: "L", source: "D", hashSource: "G", echo: "E" } as const;
/** How far the slow sink reads before it stops, and for how long. */
const SLOW_SINK = { everyBytes: 1024 * 1024, pauseMs: 10 };

const BLOCK = 1024 * 1024;
/** crypto.getRandomValues fills at most 64 KiB per call. */
const RANDOM_MAX = 65536;
export const SHA256_BYTES = 32;

export function fillRandom(buf: Uint8Array): Uint8Array {
  for (let o = 0; o < buf.byteLength; o += RANDOM_MAX) crypto.getRandomValues(buf.subarray(o, Math.min(o + RANDOM_MAX, buf.byteLength)));
  return buf;
}

/** One random block, repeated by the plain source and sink clients: random so that nothing on
 * the way can compress it, and made once so that making it costs nothing per byte. */
let sharedBlock: Uint8Array | undefined;
const block = () => (sharedBlock ??= fillRandom(new Uint8Array(BLOCK)));

const u64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
};
const readU64 = (b: Uint8Array, at = 0) => Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at));

/**
 * Writes `bytes` to a Bun socket, resolving once the kernel took all of them. Bun's write()
 * takes what fits and says how much; the rest waits for `drain`.
 */
interface Writer {
  write(bytes: Uint8Array): Promise<void>;
  /** Call from the socket's drain handler. */
  drain(): void;
  fail(err: Error): void;
}

function writer(sock: () => Socket<any> | undefined): Writer {
  let pending: { bytes: Uint8Array; resolve(): void; reject(e: Error): void } | undefined;
  const push = () => {
    const s = sock();
    if (!pending || !s) return;
    const n = s.write(pending.bytes);
    if (n < 0) return pending.reject(new Error("socket closed while writing"));
    if (n < pending.bytes.byteLength) {
      pending.bytes = pending.bytes.subarray(n);
      return;
    }
    const p = pending;
    pending = undefined;
    p.resolve();
  };
  return {
    write(bytes) {
      if (pending) return Promise.reject(new Error("one write at a time"));
      return new Promise<void>((resolve, reject) => {
        pending = { bytes, resolve, reject };
        push();
      });
    },
    drain: push,
    fail(err) {
      const p = pending;
      pending = undefined;
      p?.reject(err);
    },
  };
}

// ---- servers --------------------------------------------------------------------------

interface ServerConn {
  mode?: string;
  header: Uint8Array[];
  headerLength: number;
  count: number;
  /** Slow sink: the count at which it next stops reading. */
  nextPause: number;
  hasher?: Bun.CryptoHasher;
  out: Writer;
  /** Echo: bytes the socket did not take yet; reading pauses until they are gone. */
  echoQueue: Uint8Array[];
  /** Echo: the client's EOF came; ours follows the last queued byte. */
  ended: boolean;
}

async function sendSource(s: Socket<ServerConn>, n: number, hashed: boolean): Promise<void> {
  const c = s.data;
  const buf = hashed ? new Uint8Array(BLOCK) : block();
  const hasher = hashed ? new Bun.CryptoHasher("sha256") : undefined;
  for (let left = n; left > 0; ) {
    const chunk = buf.subarray(0, Math.min(left, buf.byteLength));
    if (hasher) hasher.update(fillRandom(chunk));
    await c.out.write(chunk);
    left -= chunk.byteLength;
  }
  if (hasher) await c.out.write(new Uint8Array(hasher.digest().buffer));
  s.end();
}

function flushEcho(s: Socket<ServerConn>) {
  const q = s.data.echoQueue;
  while (q.length) {
    const n = s.write(q[0]!);
    if (n < q[0]!.byteLength) {
      q[0] = q[0]!.subarray(Math.max(n, 0));
      return;
    }
    q.shift();
  }
  if (s.data.ended) s.end();
  else s.resume();
}

/** A slow reader's pause: the socket is not read for `ms`, the process goes on with the rest. */
function readLater(s: Socket<any>, ms: number) {
  s.pause();
  setTimeout(() => s.resume(), ms);
}

function onServerData(s: Socket<ServerConn>, chunk: Uint8Array) {
  const c = s.data;
  if (!c.mode) {
    c.mode = String.fromCharCode(chunk[0]!);
    chunk = chunk.subarray(1);
    if (!(Object.values(Mode) as string[]).includes(c.mode)) return void s.end();
    if (c.mode === Mode.hashSink || c.mode === Mode.slowSink) c.hasher = new Bun.CryptoHasher("sha256");
  }
  switch (c.mode) {
    case Mode.sink:
    case Mode.hashSink:
    case Mode.slowSink:
      c.count += chunk.byteLength;
      c.hasher?.update(chunk);
      if (c.mode === Mode.slowSink && c.count >= c.nextPause) {
        // a reader that falls behind: its socket fills and the writer's writes come back short
        // (the pause is this reader's pace, which nothing in the test waits on)
        readLater(s, SLOW_SINK.pauseMs);
        c.nextPause += SLOW_SINK.everyBytes;
      }
      return;
    case Mode.source:
    case Mode.hashSource: {
      if (c.headerLength >= 8) return; // the request is all a source reads
      c.header.push(chunk);
      c.headerLength += chunk.byteLength;
      if (c.headerLength < 8) return;
      const header = Buffer.concat(c.header);
      sendSource(s, readU64(header), c.mode === Mode.hashSource).catch(() => s.end());
      return;
    }
    case Mode.echo:
      if (chunk.byteLength === 0) return;
      // Bun reuses the chunk's memory after this call: keep a copy of what must wait
      if (s.data.echoQueue.length === 0) {
        const n = s.write(chunk);
        if (n === chunk.byteLength) return;
        chunk = chunk.subarray(Math.max(n, 0));
      }
      s.data.echoQueue.push(chunk.slice());
      s.pause();
  }
}

async function onServerEnd(s: Socket<ServerConn>) {
  const c = s.data;
  if (c.mode === Mode.sink || c.mode === Mode.hashSink || c.mode === Mode.slowSink) {
    await c.out.write(u64(c.count));
    if (c.hasher) await c.out.write(new Uint8Array(c.hasher.digest().buffer));
    s.end();
  } else if (c.mode === Mode.echo) {
    c.ended = true;
    if (c.echoQueue.length === 0) s.end(); // else flushEcho ends it
  } else if (!c.mode) s.end();
}

/** Starts every mode on one port of 127.0.0.1 (0: any free port). */
export function serveOrigin(port = 0) {
  return Bun.listen<ServerConn>({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        s.data = { header: [], headerLength: 0, count: 0, nextPause: SLOW_SINK.everyBytes, echoQueue: [], ended: false, out: writer(() => s) };
        s.setNoDelay(true);
      },
      data: onServerData,
      drain(s) {
        if (s.data.mode === Mode.echo) flushEcho(s);
        else s.data.out.drain();
      },
      end: (s) => void onServerEnd(s).catch(() => s.end()),
      close(s) {
        s.data.out.fail(new Error("connection closed"));
      },
      error() {},
    },
  });
}

// ---- clients --------------------------------------------------------------------------

export interface TcpClient {
  /** Resolves when the kernel took every byte. */
  write(bytes: Uint8Array): Promise<void>;
  /** Half-close: no more bytes from this side. */
  end(): void;
  close(): void;
  /** Resolves at the peer's EOF (or the connection's close). */
  readonly ended: Promise<void>;
}

/**
 * A TCP connection whose incoming bytes go to `onData` (the chunk's memory is reused by Bun
 * after the call: copy what you keep).
 */
export function connectTcp(port: number, onData: (chunk: Uint8Array, sock: Socket<undefined>) => void, host = "127.0.0.1"): Promise<TcpClient> {
  let sock: Socket<undefined> | undefined;
  const out = writer(() => sock);
  let endedResolve!: () => void;
  const ended = new Promise<void>((r) => (endedResolve = r));
  return new Promise((resolve, reject) => {
    Bun.connect({
      hostname: host,
      port,
      allowHalfOpen: true,
      socket: {
        open(s) {
          sock = s;
          s.setNoDelay(true);
          resolve({ write: out.write, end: () => s.shutdown(), close: () => s.end(), ended });
        },
        data: (s, chunk) => onData(chunk, s),
        drain: () => out.drain(),
        end: () => endedResolve(),
        close() {
          sock = undefined;
          out.fail(new Error("connection closed"));
          endedResolve();
        },
        connectError: (_s, err) => reject(err),
        error: () => {},
      },
    }).catch(reject);
  });
}

/** Collects a connection's bytes into one buffer, for the short answers of the sinks. */
function collector() {
  const parts: Uint8Array[] = [];
  return {
    onData: (c: Uint8Array) => void parts.push(c.slice()),
    bytes: () => Buffer.concat(parts),
  };
}

export interface Transfer {
  bytes: number;
  ms: number;
  /** The sha256 (hex) each end computed, for the hashed modes. */
  sentSha256?: string;
  receivedSha256?: string;
}

/**
 * Sends `n` bytes to a sink at `port` and waits for its count; with `hash`, fresh random
 * bytes whose sha256 both ends compute (`slowSink`: to the sink that falls behind). Rejects if
 * the sink counted another number.
 */
export async function upload(port: number, n: number, opts: { hash?: boolean; slowSink?: boolean; onProgress?(sent: number): void; progressEvery?: number } = {}): Promise<Transfer> {
  const answer = collector();
  const started = performance.now();
  const conn = await connectTcp(port, answer.onData);
  const hashed = opts.hash || opts.slowSink;
  const hasher = hashed ? new Bun.CryptoHasher("sha256") : undefined;
  const buf = hashed ? new Uint8Array(BLOCK) : block();
  await conn.write(new TextEncoder().encode(opts.slowSink ? Mode.slowSink : opts.hash ? Mode.hashSink : Mode.sink));
  const every = opts.progressEvery ?? Infinity;
  let nextProgress = every;
  for (let sent = 0; sent < n; ) {
    const chunk = buf.subarray(0, Math.min(n - sent, buf.byteLength));
    if (hasher) hasher.update(fillRandom(chunk));
    await conn.write(chunk);
    sent += chunk.byteLength;
    if (sent >= nextProgress) {
      opts.onProgress?.(sent);
      nextProgress += every;
    }
  }
  conn.end();
  await conn.ended;
  const ms = performance.now() - started;
  conn.close();
  const reply = answer.bytes();
  if (reply.byteLength !== 8 + (hasher ? SHA256_BYTES : 0)) throw new Error(`the sink answered ${reply.byteLength} bytes instead of its count${hasher ? " and hash" : ""}; was the connection cut?`);
  const counted = readU64(reply);
  if (counted !== n) throw new Error(`sent ${n} bytes but the sink counted ${counted}`);
  return {
    bytes: n,
    ms,
    ...(hasher ? { sentSha256: hasher.digest("hex"), receivedSha256: reply.subarray(8).toString("hex") } : {}),
  };
}

/** Stop reading for `pauseMs` after every `everyBytes` received. */
export interface SlowReader {
  everyBytes: number;
  pauseMs: number;
}

/**
 * Asks the source at `port` for `n` bytes and reads them to EOF; with `hash`, fresh random
 * bytes followed by the source's sha256 of them. Rejects if another number arrived.
 */
export async function download(port: number, n: number, opts: { hash?: boolean; slowReader?: SlowReader } = {}): Promise<Transfer> {
  const hasher = opts.hash ? new Bun.CryptoHasher("sha256") : undefined;
  let got = 0;
  const trailer: Uint8Array[] = [];
  const slow = opts.slowReader;
  let nextPause = slow?.everyBytes ?? Infinity;
  const onData = (chunk: Uint8Array, sock: Socket<undefined>) => {
    if (got + chunk.byteLength >= nextPause) {
      // a reader that falls behind: the kernel buffers fill and the sender must hold back
      readLater(sock, slow!.pauseMs);
      nextPause += slow!.everyBytes;
    }
    const body = Math.max(0, Math.min(chunk.byteLength, n - got));
    if (hasher && body > 0) hasher.update(chunk.subarray(0, body));
    if (body < chunk.byteLength) trailer.push(chunk.slice(body));
    got += chunk.byteLength;
  };
  const started = performance.now();
  const conn = await connectTcp(port, onData);
  const request = new Uint8Array(9);
  request[0] = (opts.hash ? Mode.hashSource : Mode.source).charCodeAt(0);
  request.set(u64(n), 1);
  await conn.write(request);
  await conn.ended;
  const ms = performance.now() - started;
  conn.close();
  const expected = n + (hasher ? SHA256_BYTES : 0);
  if (got !== expected) throw new Error(`asked the source for ${n} bytes${hasher ? " and their hash" : ""} (${expected} in all) but ${got} arrived`);
  return {
    bytes: n,
    ms,
    ...(hasher ? { receivedSha256: hasher.digest("hex"), sentSha256: Buffer.concat(trailer).toString("hex") } : {}),
  };
}

if (import.meta.main) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === "serve") {
    const server = serveOrigin(Number(rest[0] ?? 0));
    console.log(`origin listening on 127.0.0.1 port ${server.port}`);
    process.on("SIGTERM", () => {
      server.stop(true);
      process.exit(0);
    });
  } else if (cmd === "upload" && rest.length === 2) {
    const [port, n] = rest.map(Number) as [number, number];
    const started = performance.now();
    const r = await upload(port, n, { progressEvery: 16 * BLOCK, onProgress: (sent) => console.log(`sent ${sent} bytes in ${Math.round(performance.now() - started)} ms`) });
    console.log(`done ${r.bytes} bytes in ${Math.round(r.ms)} ms`);
  } else {
    console.error("usage: bun test/helpers/origin.ts serve [PORT] | upload PORT BYTES");
    process.exitCode = 64;
  }
}

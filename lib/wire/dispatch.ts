// The peer's frames on one mux connection, each type to a small handler: the connection's own
// (hello, ping, received, go-away, open) here, a stream's to the stream (lib/wire/stream.ts).
import { readCodeAndText, readHello, readOpenMeta, readU32 } from "./decode.ts";
import { dataFrame, dataHeader, pingFrame } from "./encode.ts";
import { ProtocolError } from "./errors.ts";
import { Flag, FrameType, INITIAL_WINDOW, type Frame, type OpenMeta } from "./frame.ts";
import { pingRtt, timedPing } from "./keepalive.ts";
import type { MuxOptions } from "./options.ts";
import { createPacer, type Pacer } from "./pacer.ts";
import type { SendLine } from "./send-line.ts";
import { createStream, type MuxStream, type StreamHost } from "./stream.ts";
import { createReceiveWindow, type WindowBudget, type WindowOptions } from "./window.ts";

/** What may wait in the transport's buffer for a ping to be answered: far above what a peer
 * that reads has waiting, so only one that pings without reading goes unanswered. */
const PONG_LIMIT = 16 * 1024 * 1024;

/** One connection's state, shared by the frame handlers below. */
export interface Connection {
  opts: MuxOptions;
  streams: Map<number, MuxStream>;
  line: SendLine;
  /** Set once the peer's hello offers received frames: from then on we report what we read,
   * and it reports what it read, which paces our data. */
  pacer?: Pacer;
  /** The smallest round trip our pings measured, by which stream windows grow. */
  rtt?: number;
  /** What this connection's stream windows may grow by. */
  budget: WindowBudget;
  /** Streams whose window grew, looked at now and then to shrink them when idle. */
  grown: Set<MuxStream>;
  /** What its streams share (made with the first). */
  shared?: { host: StreamHost; windows: WindowOptions };
  now(): number;
  nextId: number;
  closed: boolean;
  peerGoingAway: boolean;
  /** Whether another data frame may go now: the transport is not too full, and the pacer allows it. */
  hasSpace(): boolean;
  send(bytes: Uint8Array): void;
  close(reason: string, code?: number): void;
}

export const sendPing = (c: Connection) => c.send(timedPing(c.now()));

/** Gives back what idle streams' windows grew by; on each keepalive ping. */
export function shrinkIdle(c: Connection) {
  for (const s of c.grown) if (s.shrinkIfIdle()) c.grown.delete(s);
}

function onHello(c: Connection, f: Frame) {
  const { version, meta } = readHello(f.payload);
  if (meta.received === true && !c.pacer) c.pacer = createPacer(c.now);
  // a first round trip, for the pacer and the stream windows (every version answers pings)
  if (c.rtt === undefined) sendPing(c);
  c.opts.onHello?.(version, meta, (f.flags & Flag.ack) !== 0);
}

function onRtt(c: Connection, ms: number) {
  if (!(ms >= 0 && ms < 60_000)) return;
  c.pacer?.rtt(ms);
  // the path's own: during a bulk copy every ping waits behind our bytes
  c.rtt = Math.min(c.rtt ?? Infinity, ms);
}

function onPing(c: Connection, f: Frame) {
  if ((f.flags & Flag.ack) !== 0) onRtt(c, pingRtt(f, c.now()));
  // a peer that pings and does not read gets no more answers once they pile up
  else if (c.opts.transport.buffered() <= PONG_LIMIT) c.send(pingFrame(f.payload, true));
}

function onReceived(c: Connection, f: Frame) {
  if (!c.pacer) return;
  c.pacer.delivered(readU32(f.payload));
  c.line.flushAll();
}

function onGoAway(c: Connection, f: Frame) {
  if (c.peerGoingAway) return; // said once is enough: more would only cost us
  const { code, text } = readCodeAndText(f.payload);
  c.peerGoingAway = true;
  c.opts.onGoAway?.(code, text);
}

function onOpen(c: Connection, f: Frame) {
  if (c.opts.role === "opener") throw new ProtocolError("the accepting end tried to open a stream");
  if (c.streams.has(f.stream)) throw new ProtocolError(`stream ${f.stream} opened twice`);
  const meta = readOpenMeta(f.payload);
  // Opens that arrive after our go-away were sent before the peer read it: the peer
  // routes nothing new here once it has, so these are served like any live stream.
  c.opts.onStream?.(addStream(c, f.stream, meta), meta);
}

const CONNECTION_FRAMES: Partial<Record<FrameType, (c: Connection, f: Frame) => void>> = {
  [FrameType.hello]: onHello,
  [FrameType.ping]: onPing,
  [FrameType.received]: onReceived,
  [FrameType.goAway]: onGoAway,
  [FrameType.open]: onOpen,
};

const STREAM_FRAMES: Partial<Record<FrameType, (s: MuxStream, f: Frame) => void>> = {
  [FrameType.data]: (s, f) => s.peerData(f.payload),
  [FrameType.window]: (s, f) => s.peerCredit(readU32(f.payload)),
  [FrameType.fin]: (s) => s.peerEnd(),
  [FrameType.reset]: (s, f) => {
    const { code, text } = readCodeAndText(f.payload);
    s.finish(code, text);
  },
};

export function onFrame(c: Connection, f: Frame) {
  const handle = CONNECTION_FRAMES[f.type];
  if (handle) return handle(c, f);
  const s = c.streams.get(f.stream);
  // Frames for a stream we already finished are expected in flight; anything else is a
  // peer bug, but not worth killing every other stream for.
  if (s) STREAM_FRAMES[f.type]?.(s, f);
  else if (f.type !== FrameType.reset && f.stream >= c.nextId && c.opts.role === "opener") throw new ProtocolError(`frame for unknown stream ${f.stream}`);
}

/** What every stream of the connection shares: one host and one set of window options, not a
 * copy per stream. */
function streamParts(c: Connection): NonNullable<Connection["shared"]> {
  const { transport } = c.opts;
  const host: StreamHost = {
    send: c.send,
    sendData(id, bytes) {
      if (c.closed) return;
      if (transport.sendParts) transport.sendParts(dataHeader(id, bytes.byteLength), bytes);
      else transport.send(dataFrame(id, bytes));
    },
    hasSpace: c.hasSpace,
    sent: (n) => c.pacer?.sent(n),
    serve: (s) => c.line.serve(s),
    wait: (s, waiting) => c.line.wait(s, waiting),
    grew: (s) => void c.grown.add(s),
    finished(s) {
      c.line.remove(s);
      c.grown.delete(s);
      c.streams.delete(s.id);
    },
  };
  return { host, windows: { budget: c.budget, rtt: () => c.rtt, now: c.now, initial: c.opts.window ?? INITIAL_WINDOW, learned: { size: 0, at: -Infinity } } };
}

export function addStream(c: Connection, id: number, meta: OpenMeta): MuxStream {
  const { host, windows } = (c.shared ??= streamParts(c));
  const s = createStream(id, meta, host, createReceiveWindow(windows), c.opts.window ?? INITIAL_WINDOW);
  c.streams.set(id, s);
  return s;
}

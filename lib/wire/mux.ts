// One multiplexed connection (a mux) between the edge and a connector: streams with credit windows
// over a WebSocket. The same code runs on both ends; only the edge opens streams.
//
// Flow control, the rule everything here follows: a byte is either on the transport, queued
// on a stream that told its writer to stop (write() returned false), or not yet read from its
// source. The receiver returns credit only once its sink took the bytes (Stream.ack), so a slow
// sink holds its own stream back and no other.
import { createDecoder, readCodeAndText, readHello, readOpenMeta, readU32 } from "./decode.ts";
import { dataFrame, dataHeader, finFrame, goAwayFrame, helloFrame, openFrame, pingFrame, receivedFrame, resetFrame, windowFrame } from "./encode.ts";
import { ProtocolError } from "./errors.ts";
import { Flag, FrameType, INITIAL_WINDOW, MAX_DATA_CHUNK, PROTOCOL_VERSION, ResetCode, type Frame, type HelloMeta, type OpenMeta } from "./frame.ts";
import { Close } from "./close.ts";
import { createPacer, REPORT_EVERY, type Pacer } from "./pacer.ts";

/** What the mux needs from a WebSocket. */
export interface Transport {
  send(bytes: Uint8Array): void;
  /** A data frame as its header and its payload, for a transport that can write the two
   * back to back without joining them (a corked WebSocket); without it they are joined. */
  sendParts?(header: Uint8Array, payload: Uint8Array): void;
  /** Bytes accepted by send() but not yet written to the network. */
  buffered(): number;
  close(code: number, reason: string): void;
}

/** Keepalive of connector connections on both ends: a dead or stalled peer is noticed
 * within `timeoutMs` (plus one check period, an eighth of it) and its connection dropped. */
export const DEFAULT_KEEPALIVE = { intervalMs: 2_000, timeoutMs: 6_000 } as const;

export interface MuxOptions {
  transport: Transport;
  /** The edge opens streams; the connector accepts them. */
  role: "edge" | "connector";
  /** Stop sending data frames while the transport holds more than this. */
  highWater?: number;
  window?: number;
  /** Send a ping this often, and give up on a peer silent for `deadAfterMs` (the transport's
   * close() then gets Close.keepaliveTimeout and should drop the connection without a handshake). */
  pingIntervalMs?: number;
  deadAfterMs?: number;
  onStream?(stream: Stream, meta: OpenMeta): void;
  onHello?(version: number, meta: HelloMeta, ack: boolean): void;
  onGoAway?(code: number, reason: string): void;
  onClose?(reason: string): void;
}

export interface StreamEvents {
  /** Bytes from the peer; call ack(n) once they have left for the sink. */
  onData?(bytes: Uint8Array): void;
  /** The peer will send no more (half-close). */
  onEnd?(): void;
  /** The queue emptied after write() returned false: the source may resume. */
  onDrain?(): void;
  /** The stream is over: fully closed both ways, reset by either side, or the mux closed. */
  onClose?(code: number, reason: string): void;
}

export interface Stream extends StreamEvents {
  readonly id: number;
  readonly meta: OpenMeta;
  /** Queues bytes; false means stop reading the source until onDrain. */
  write(bytes: Uint8Array): boolean;
  /** Half-close after everything queued has gone. */
  end(): void;
  reset(code: number, reason: string): void;
  /** Returns credit for bytes the sink has taken. */
  ack(n: number): void;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface Mux {
  receive(chunk: Uint8Array): void;
  /** The transport drained: send what waited for it. */
  drained(): void;
  open(meta: OpenMeta): Stream;
  hello(meta: HelloMeta, ack?: boolean): void;
  goAway(code: number, reason: string): void;
  /** Ends every stream and closes the transport with `code` (default: normal). */
  close(reason: string, code?: number): void;
  readonly streams: ReadonlyMap<number, Stream>;
  readonly closed: boolean;
  readonly goingAway: boolean;
  /** The peer said go-away: open no new streams here. */
  readonly peerGoingAway: boolean;
  /** Bytes queued on streams waiting for credit or the transport. */
  queuedBytes(): number;
  /** Some stream waits for the transport to drain. */
  readonly waiting: boolean;
}

interface StreamState extends Stream {
  queue: Uint8Array[];
  queued: number;
  credit: number;
  unacked: number;
  wantDrain: boolean;
  localEnd: boolean; // end() called
  finSent: boolean;
  finReceived: boolean;
  done: boolean;
  received: number; // bytes received not yet acked, against our window
  _in: number;
  _out: number;
}

/** What may wait in the transport's buffer for a ping to be answered: far above what a peer
 * that reads has waiting, so only one that pings without reading goes unanswered. */
const PONG_LIMIT = 16 * 1024 * 1024;

export function createMux(opts: MuxOptions): Mux {
  const { transport, role } = opts;
  const highWater = opts.highWater ?? 256 * 1024;
  const window = opts.window ?? INITIAL_WINDOW;
  const decoder = createDecoder();
  const streams = new Map<number, StreamState>();
  // Streams with bytes queued and credit to send them, served round-robin so a bulk copy
  // cannot starve a keystroke.
  const ready = new Set<StreamState>();
  let nextId = 1;
  let closed = false;
  let goingAway = false;
  let peerGoingAway = false;
  let lastHeard = Date.now();
  // Set once the peer's hello offers received frames (lib/wire/pacer.ts): from then on we
  // report what we read, and it reports what it read, which paces our data.
  let pacer: Pacer | undefined;
  let unreported = 0;
  const room = () => transport.buffered() <= highWater && (!pacer || pacer.room());

  const send = (bytes: Uint8Array) => {
    if (!closed) transport.send(bytes);
  };
  const sendData = (id: number, bytes: Uint8Array) => {
    if (closed) return;
    if (transport.sendParts) transport.sendParts(dataHeader(id, bytes.byteLength), bytes);
    else transport.send(dataFrame(id, bytes));
  };

  function finish(s: StreamState, code: number, reason: string) {
    if (s.done) return;
    s.done = true;
    s.queue = [];
    s.queued = 0;
    ready.delete(s);
    streams.delete(s.id);
    s.onClose?.(code, reason);
  }

  function maybeDone(s: StreamState) {
    if (s.finSent && s.finReceived) finish(s, ResetCode.normal, "closed");
  }

  /** Sends up to `limit` chunks of the stream's queue, within its credit and the transport's room. */
  function flushStream(s: StreamState, limit = Infinity): boolean {
    while (s.queued > 0 && s.credit > 0 && limit-- > 0) {
      if (!room()) break;
      const head = s.queue[0]!;
      const n = Math.min(head.byteLength, s.credit, MAX_DATA_CHUNK);
      if (n === head.byteLength) s.queue.shift();
      else s.queue[0] = head.subarray(n);
      s.queued -= n;
      s.credit -= n;
      s._out += n;
      pacer?.sent(n);
      sendData(s.id, n === head.byteLength ? head : head.subarray(0, n));
    }
    if (s.queued > 0) {
      // waiting for room: in line; waiting for credit: out of it until a window frame, so
      // streams stuck on slow sinks cost nothing to the others' writes
      if (s.credit > 0) ready.add(s);
      else ready.delete(s);
      return false;
    }
    ready.delete(s);
    if (s.localEnd && !s.finSent) {
      s.finSent = true;
      send(finFrame(s.id));
      maybeDone(s);
    }
    if (s.wantDrain && !s.done) {
      s.wantDrain = false;
      s.onDrain?.();
    }
    return true;
  }

  /** Serves waiting streams in turn, one chunk each per round, while the transport has room.
   * A stream served goes to the back of the line, so the next round (or the next call, when
   * room ran out mid-round) begins with those not served yet. */
  function flushAll() {
    while (ready.size > 0 && room()) {
      let sent = false;
      for (const s of [...ready]) {
        const before = s.queued;
        flushStream(s, 1);
        if (s.queued < before) {
          sent = true;
          if (ready.delete(s)) ready.add(s);
        }
        if (!room()) return;
      }
      if (!sent) return; // every waiting stream is out of credit
    }
  }

  /** Sends what it can of a stream's queue: at once when no other stream waits, else in turn
   * with them. True when its queue emptied. */
  function serve(s: StreamState): boolean {
    if (ready.size === 0 || (ready.size === 1 && ready.has(s))) return flushStream(s);
    ready.add(s);
    flushAll();
    return s.queued === 0;
  }

  function makeStream(id: number, meta: OpenMeta): StreamState {
    const s: StreamState = {
      id,
      meta,
      queue: [],
      queued: 0,
      credit: window,
      unacked: 0,
      wantDrain: false,
      localEnd: false,
      finSent: false,
      finReceived: false,
      done: false,
      received: 0,
      _in: 0,
      _out: 0,
      get bytesIn() {
        return s._in;
      },
      get bytesOut() {
        return s._out;
      },
      write(bytes) {
        if (s.done || s.localEnd) return false;
        if (bytes.byteLength === 0) return true;
        s.queue.push(bytes);
        s.queued += bytes.byteLength;
        if (serve(s)) return true;
        s.wantDrain = true;
        return false;
      },
      end() {
        if (s.done || s.localEnd) return;
        s.localEnd = true;
        if (s.queued === 0) flushStream(s);
      },
      reset(code, reason) {
        if (s.done) return;
        send(resetFrame(s.id, code, reason));
        finish(s, code, reason);
      },
      ack(n) {
        if (s.done || n <= 0) return;
        s.received -= n;
        s.unacked += n;
        // batch window updates: one frame per quarter window keeps the control traffic small
        if (s.unacked >= window / 4) {
          send(windowFrame(s.id, s.unacked));
          s.unacked = 0;
        }
      },
    };
    streams.set(id, s);
    return s;
  }

  function protocolError(message: string) {
    if (closed) return;
    send(goAwayFrame(ResetCode.protocolError, message));
    close(`protocol error: ${message}`, Close.protocolError);
  }

  function onFrame(f: Frame) {
    switch (f.type) {
      case FrameType.hello: {
        const { version, meta } = readHello(f.payload);
        if (meta.received === true && !pacer) {
          pacer = createPacer();
          sendPing(); // a first round trip for the pacer
        }
        opts.onHello?.(version, meta, (f.flags & Flag.ack) !== 0);
        return;
      }
      case FrameType.ping:
        if ((f.flags & Flag.ack) !== 0) pacer?.rtt(performance.now() - new DataView(f.payload.buffer, f.payload.byteOffset, 8).getFloat64(0));
        // a peer that pings and does not read gets no more answers once they pile up
        else if (transport.buffered() <= PONG_LIMIT) send(pingFrame(f.payload, true));
        return;
      case FrameType.received:
        if (!pacer) return;
        pacer.delivered(readU32(f.payload));
        flushAll();
        return;
      case FrameType.goAway: {
        if (peerGoingAway) return; // said once is enough: more would only cost us
        const { code, text } = readCodeAndText(f.payload);
        peerGoingAway = true;
        opts.onGoAway?.(code, text);
        return;
      }
      case FrameType.open: {
        if (role === "edge") throw new ProtocolError("connector tried to open a stream");
        if (streams.has(f.stream)) throw new ProtocolError(`stream ${f.stream} opened twice`);
        const meta = readOpenMeta(f.payload);
        // Opens that arrive after our go-away were sent before the peer read it: the peer
        // routes nothing new here once it has, so these are served like any live stream.
        const s = makeStream(f.stream, meta);
        opts.onStream?.(s, meta);
        return;
      }
    }
    const s = streams.get(f.stream);
    if (!s) {
      // Frames for a stream we already finished are expected in flight; anything else is a
      // peer bug, but not worth killing every other stream for.
      if (f.type !== FrameType.reset && f.stream >= nextId && role === "edge") throw new ProtocolError(`frame for unknown stream ${f.stream}`);
      return;
    }
    switch (f.type) {
      case FrameType.data: {
        if (s.finReceived) throw new ProtocolError(`data after end on stream ${s.id}`);
        s.received += f.payload.byteLength;
        if (s.received > window) {
          s.reset(ResetCode.flowControl, "peer exceeded the stream window");
          return;
        }
        s._in += f.payload.byteLength;
        s.onData?.(f.payload);
        return;
      }
      case FrameType.window: {
        s.credit += readU32(f.payload);
        if (s.queued > 0) serve(s);
        return;
      }
      case FrameType.fin:
        if (s.finReceived) return;
        s.finReceived = true;
        s.onEnd?.();
        maybeDone(s);
        return;
      case FrameType.reset: {
        const { code, text } = readCodeAndText(f.payload);
        finish(s, code, text);
        return;
      }
    }
  }

  // One timer per mux, checking a few times per timeout so that a silent peer is
  // declared dead close to `deadAfterMs`, not up to a whole ping interval later.
  let lastPing = 0;
  /** Our ping carries the time it left; the answer gives the round trip. */
  const sendPing = () => {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setFloat64(0, performance.now());
    send(pingFrame(payload));
  };
  const deadAfter = opts.deadAfterMs ?? (opts.pingIntervalMs ?? 0) * 3;
  const pingTimer = opts.pingIntervalMs
    ? setInterval(
        () => {
          const now = Date.now();
          if (now - lastHeard > deadAfter) {
            close(`peer stopped answering: nothing heard for ${((now - lastHeard) / 1000).toFixed(1)} s (keepalive timeout ${deadAfter / 1000} s)`, Close.keepaliveTimeout);
            return;
          }
          if (now - lastPing >= opts.pingIntervalMs!) {
            lastPing = now;
            sendPing();
          }
        },
        Math.max(10, Math.min(opts.pingIntervalMs, deadAfter / 8)),
      )
    : undefined;
  pingTimer?.unref?.();

  function close(reason: string, code: number = Close.normal) {
    if (closed) return;
    closed = true;
    if (pingTimer) clearInterval(pingTimer);
    for (const s of [...streams.values()]) finish(s, ResetCode.goingAway, reason);
    try {
      transport.close(code, reason.slice(0, 120));
    } catch {}
    opts.onClose?.(reason);
  }

  return {
    streams,
    get closed() {
      return closed;
    },
    get goingAway() {
      return goingAway;
    },
    get peerGoingAway() {
      return peerGoingAway;
    },
    get waiting() {
      return ready.size > 0;
    },
    queuedBytes() {
      let n = 0;
      for (const s of streams.values()) n += s.queued;
      return n;
    },
    receive(chunk) {
      if (closed) return;
      lastHeard = Date.now();
      try {
        for (const f of decoder.push(chunk)) {
          // every data byte read counts, for a live stream or not: the peer counted it as sent
          if (pacer && f.type === FrameType.data) unreported += f.payload.byteLength;
          onFrame(f);
          if (closed) return;
        }
        if (unreported >= REPORT_EVERY) {
          send(receivedFrame(unreported));
          unreported = 0;
        }
      } catch (err) {
        // Whatever went wrong while handling a frame ends this connection, never leaves it
        // half set up: a peer's bad frame is its protocol error, our own failure says so too.
        protocolError(err instanceof ProtocolError ? err.message : `the frame could not be handled (${(err as Error)?.message ?? err})`);
      }
    },
    drained() {
      if (!closed) flushAll();
    },
    open(meta) {
      if (role !== "edge") throw new Error("only the edge opens streams");
      const s = makeStream(nextId++, meta);
      send(openFrame(s.id, meta));
      return s;
    },
    hello(meta, ack = false) {
      // we offer received frames: a peer that offers them too is sent our reports and paces us by its own
      send(helloFrame(PROTOCOL_VERSION, { ...meta, received: true }, ack));
    },
    goAway(code, reason) {
      if (goingAway) return;
      goingAway = true;
      send(goAwayFrame(code, reason));
    },
    close,
  };
}

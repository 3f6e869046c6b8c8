// One multiplexed connection (a mux) over a WebSocket: many streams (lib/wire/stream.ts) with
// credit windows. The same code runs on both ends; one end opens streams (the edge towards a
// connector, a node towards the peer that holds one) and the other accepts them. Here: the
// dispatch of the peer's frames, go-away, pings, and what bounds the whole connection — the
// transport's buffer and the pacer (lib/wire/pacer.ts).
import { createDecoder } from "./decode.ts";
import { addStream, onFrame, sendPing, shrinkIdle, type Connection } from "./dispatch.ts";
import { goAwayFrame, helloFrame, openFrame, receivedFrame } from "./encode.ts";
import { ProtocolError } from "./errors.ts";
import { FrameType, PROTOCOL_VERSION, ResetCode, type HelloMeta, type OpenMeta } from "./frame.ts";
import { Close } from "./close.ts";
import { REPORT_EVERY } from "./pacer.ts";
import { createSendLine } from "./send-line.ts";
import type { Stream } from "./stream.ts";
import { startKeepalive } from "./keepalive.ts";
import { CONNECTION_GROWTH, createBudget, processBudget, type WindowBudget } from "./window.ts";

export type { Stream, StreamEvents } from "./stream.ts";
export { DEFAULT_KEEPALIVE } from "./keepalive.ts";

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

export interface MuxOptions {
  transport: Transport;
  /** The opener opens streams (the edge, or a node dialing a peer); the acceptor serves them. */
  role: "opener" | "acceptor";
  /** Stop sending data frames while the transport holds more than this. */
  highWater?: number;
  window?: number;
  /** Send a ping this often, and give up on a peer silent for `deadAfterMs` (the transport's
   * close() then gets Close.keepaliveTimeout and should drop the connection without a handshake). */
  pingIntervalMs?: number;
  deadAfterMs?: number;
  /** What stream windows may grow by, shared with other connections (default: the process's). */
  budget?: WindowBudget;
  /** The clock of round trips, the pacer and the windows (tests set it). */
  now?(): number;
  onStream?(stream: Stream, meta: OpenMeta): void;
  onHello?(version: number, meta: HelloMeta, ack: boolean): void;
  onGoAway?(code: number, reason: string): void;
  onClose?(reason: string): void;
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

export function createMux(opts: MuxOptions): Mux {
  const { transport } = opts;
  const highWater = opts.highWater ?? 256 * 1024;
  const decoder = createDecoder();
  let lastHeard = Date.now();
  let goingAway = false;
  let unreported = 0; // data bytes read since our last received frame
  const c: Connection = {
    opts,
    streams: new Map(),
    line: createSendLine(() => c.hasSpace()),
    budget: createBudget(CONNECTION_GROWTH, opts.budget ?? processBudget),
    grown: new Set(),
    now: opts.now ?? (() => performance.now()),
    nextId: 1,
    closed: false,
    peerGoingAway: false,
    hasSpace: () => transport.buffered() <= highWater && (!c.pacer || c.pacer.hasSpace()),
    send(bytes) {
      if (!c.closed) transport.send(bytes);
    },
    close,
  };
  const deadAfterMs = opts.deadAfterMs ?? (opts.pingIntervalMs ?? 0) * 3;
  const ping = () => {
    sendPing(c);
    shrinkIdle(c);
  };
  const stopKeepalive = opts.pingIntervalMs
    ? startKeepalive({ intervalMs: opts.pingIntervalMs, deadAfterMs, lastHeard: () => lastHeard, ping, dead: (why) => close(why, Close.keepaliveTimeout) })
    : undefined;

  function close(reason: string, code: number = Close.normal) {
    if (c.closed) return;
    c.closed = true;
    stopKeepalive?.();
    for (const s of [...c.streams.values()]) s.finish(ResetCode.goingAway, reason);
    try {
      transport.close(code, reason.slice(0, 120));
    } catch {}
    opts.onClose?.(reason);
  }

  function protocolError(message: string) {
    if (c.closed) return;
    c.send(goAwayFrame(ResetCode.protocolError, message));
    close(`protocol error: ${message}`, Close.protocolError);
  }

  return {
    streams: c.streams,
    get closed() {
      return c.closed;
    },
    get goingAway() {
      return goingAway;
    },
    get peerGoingAway() {
      return c.peerGoingAway;
    },
    get waiting() {
      return c.line.waiting;
    },
    queuedBytes: () => [...c.streams.values()].reduce((n, s) => n + s.queued, 0),
    receive(chunk) {
      if (c.closed) return;
      lastHeard = Date.now();
      try {
        for (const f of decoder.push(chunk)) {
          // every data byte read counts, for a live stream or not: the peer counted it as sent
          if (c.pacer && f.type === FrameType.data) unreported += f.payload.byteLength;
          onFrame(c, f);
          if (c.closed) return;
        }
        if (unreported >= REPORT_EVERY) {
          c.send(receivedFrame(unreported));
          unreported = 0;
        }
      } catch (err) {
        // Whatever went wrong while handling a frame ends this connection, never leaves it
        // half set up: a peer's bad frame is its protocol error, our own failure says so too.
        protocolError(err instanceof ProtocolError ? err.message : `the frame could not be handled (${(err as Error)?.message ?? err})`);
      }
    },
    drained() {
      if (!c.closed) c.line.flushAll();
    },
    open(meta) {
      if (opts.role !== "opener") throw new Error("only the opening end opens streams");
      const s = addStream(c, c.nextId++, meta);
      c.send(openFrame(s.id, meta));
      return s;
    },
    hello(meta, ack = false) {
      // we offer received frames: a peer that offers them too is sent our reports and paces us by its own
      c.send(helloFrame(PROTOCOL_VERSION, { ...meta, received: true }, ack));
    },
    goAway(code, reason) {
      if (goingAway) return;
      goingAway = true;
      c.send(goAwayFrame(code, reason));
    },
    close,
  };
}

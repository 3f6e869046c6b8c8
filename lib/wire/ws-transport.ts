// A mux runs over either of Bun's WebSockets: the server's (uWS, on the edge) and the client's
// (on the connector). Both become the mux's Transport here, the one place that knows how a
// close code reaches each.
import type { ServerWebSocket } from "bun";
import { Close } from "./close.ts";
import type { Mux, Transport } from "./mux.ts";

/** The edge's end: a data frame's header and payload go out corked, so uWS writes them
 * together without joining (copying) them. */
export function serverTransport(ws: ServerWebSocket<unknown>): Transport {
  return {
    send: (b) => void ws.send(b),
    sendParts: (h, p) =>
      void ws.cork(() => {
        ws.send(h);
        ws.send(p);
      }),
    buffered: () => ws.getBufferedAmount(),
    // a stalled peer would never finish a close handshake
    close: (code, reason) => (code === Close.keepaliveTimeout ? ws.terminate() : ws.close(code, reason)),
  };
}

/** The edge's WebSocket handlers for a socket that carries a mux (a connector's or a peer's). */
export const serverMuxSocket = {
  message(ws: ServerWebSocket<{ mux?: Mux }>, msg: string | Buffer) {
    if (typeof msg !== "string") ws.data.mux?.receive(msg);
  },
  drain: (ws: ServerWebSocket<{ mux?: Mux }>) => ws.data.mux?.drained(),
  close: (ws: ServerWebSocket<{ mux?: Mux }>, code: number, reason: string) => ws.data.mux?.close(`connection closed (${code}${reason ? ` ${reason}` : ""})`),
};

/** How often a client WebSocket that a mux waits on is checked for having drained: Bun's
 * client WebSocket has no drain event. */
const DRAIN_POLL_MS = 2;

/**
 * The dialing end (a connector, or a node dialing a peer) over Bun's client WebSocket. It
 * watches the buffer go down itself while the mux waits on it (`mux()` gives the mux once
 * made), and stops that with `stop()`. `onDrop` runs before a stalled connection is dropped,
 * with the mux's reason.
 */
export function clientTransport(ws: WebSocket, mux: () => Mux | undefined, hooks: { onDrop?(reason: string): void } = {}): Transport & { poll(): void; stop(): void } {
  let timer: Timer | undefined;
  const poll = () => {
    if (timer || !mux()?.waiting) return;
    timer = setInterval(() => {
      mux()?.drained();
      if (!mux()?.waiting) stop();
    }, DRAIN_POLL_MS);
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  // A data frame is joined in this one buffer, reused: Bun's client WebSocket copies what it
  // sends (it masks it on the way), so a fresh buffer per frame only cost page faults and GC.
  let scratch = new Uint8Array(0);
  const send = (b: Uint8Array) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(b);
    // a stream may now wait for space: look after this burst of writes
    if (!timer && ws.bufferedAmount > 0) queueMicrotask(poll);
  };
  return {
    send,
    sendParts(h, p) {
      const n = h.byteLength + p.byteLength;
      if (scratch.byteLength < n) scratch = new Uint8Array(Math.max(n, 256 * 1024 + 64));
      scratch.set(h);
      scratch.set(p, h.byteLength);
      send(scratch.subarray(0, n));
    },
    buffered: () => ws.bufferedAmount,
    close(code, reason) {
      if (code === Close.keepaliveTimeout) {
        hooks.onDrop?.(reason);
        ws.terminate();
        return;
      }
      // a client may send only 1000 and the application range; 1002 is ours to pass on
      ws.close(code === Close.protocolError || code >= 4000 ? code : Close.normal, reason);
    },
    /** Look now whether the mux can send again (after a message came in, say). */
    poll,
    stop,
  };
}

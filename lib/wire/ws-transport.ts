// A mux runs over either of Bun's WebSockets: the server's (uWS, on the edge) and the client's
// (on the connector). Both become the mux's Transport here, the one place that knows how a
// close code reaches each.
import type { ServerWebSocket } from "bun";
import { Close } from "./close.ts";
import type { Transport } from "./mux.ts";

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

/** The connector's end. `onSend` runs after each frame queued: the client WebSocket has no
 * drain event, so its owner watches the buffer go down itself. `onDrop` runs before a
 * stalled connection is dropped, with the mux's reason. */
export function clientTransport(ws: WebSocket, hooks: { onSend?(): void; onDrop?(reason: string): void } = {}): Transport {
  return {
    send(b) {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(b);
      hooks.onSend?.();
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
  };
}

// One connection to the edge: a TLS WebSocket that carries the mux, the hello that registers
// it, and the go-away that moves it. Its streams go to the room's `serve`; what happens after
// it ends is the supervisor's to decide.
import { log } from "../cli/log.ts";
import { Close, closeReason } from "../wire/close.ts";
import { ResetCode } from "../wire/frame.ts";
import { createMux } from "../wire/mux.ts";
import { clientTransport } from "../wire/ws-transport.ts";
import type { EdgeTarget } from "./edges.ts";
import { closeIfIdle, plural, type Connection, type Ended, type TunnelRoom } from "./room.ts";

/** A TLS or TCP handshake that has not finished after this is abandoned and retried. */
export const CONNECT_TIMEOUT_MS = 15_000;

/** One connection; resolves when the supervisor should open another: it ended, or it moved. */
export function connectOnce(room: TunnelRoom, index: number, target: EdgeTarget): Promise<Ended> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { authorization: `Bearer ${room.credential.id}.${room.credential.secret}` };
    if (target.host) headers.host = target.host;
    const tls = { ...(room.ca ? { ca: room.ca } : {}), ...(target.servername ? { servername: target.servername } : {}) };
    const ws = new WebSocket(target.wsUrl, { headers, tls });
    ws.binaryType = "nodebuffer";
    let settled = false;
    let why = ""; // our own reason for ending it, when we did
    let errorMessage = "";
    const conn: Connection = {
      index,
      target,
      registered: false,
      registeredAt: 0,
      moved: false,
      close(reason) {
        why ||= reason;
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else if (conn.mux) conn.mux.close(reason);
        else ws.close(Close.normal, closeReason(reason));
      },
    };
    room.conns.add(conn);
    const settle = (code: number, reason: string) => {
      if (settled) return;
      settled = true;
      resolve({ registered: conn.registered, registeredAt: conn.registeredAt, moved: conn.moved, code, reason });
    };
    const connectTimer = setTimeout(() => {
      why = `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`;
      ws.terminate();
    }, CONNECT_TIMEOUT_MS);

    const transport = clientTransport(ws, () => conn.mux, { onDrop: (reason) => void (why ||= reason) });

    ws.onopen = () => {
      clearTimeout(connectTimer);
      const mux = createMux({
        role: "acceptor",
        transport,
        pingIntervalMs: room.keepalive.intervalMs,
        deadAfterMs: room.keepalive.timeoutMs,
        onHello(_v, _meta, ack) {
          if (!ack || conn.registered) return;
          conn.registered = true;
          conn.registeredAt = Date.now();
          log.info(`connection ${index} registered with ${target.label} for ${room.hostnames.join(", ")}`);
          if (room.draining) {
            mux.goAway(ResetCode.goingAway, "connector is shutting down");
            closeIfIdle(room, conn);
          }
          room.changed();
        },
        onStream: (stream, meta) => room.serve(conn, stream, meta),
        onGoAway(_code, reason) {
          if (room.stopping()) return;
          conn.moved = true;
          const live = mux.streams.size;
          log.info(`edge ${target.label} asked connection ${index} to move (${reason}); opening a new connection now${live ? `, the ${plural(live, "live stream")} here continue until they end` : ""}`);
          room.metrics.lost.inc({ reason: "moved" });
          room.changed();
          settle(1000, reason);
          closeIfIdle(room, conn);
        },
      });
      conn.mux = mux;
      mux.hello({ hostnames: room.hostnames, connector: room.connectorId, index, resume: true });
    };
    ws.onmessage = (ev) => {
      conn.mux?.receive(ev.data as Uint8Array);
      transport.poll();
    };
    ws.onerror = (ev) => {
      // "WebSocket connection to 'wss://…' failed: Failed to connect" says the URL twice in our lines
      errorMessage = ((ev as ErrorEvent).message ?? "").replace(/^WebSocket connection to '[^']*' failed: /, "");
    };
    ws.onclose = (ev) => {
      clearTimeout(connectTimer);
      transport.stop();
      const reason = why || ev.reason || errorMessage || `closed with code ${ev.code}`;
      conn.mux?.close(reason);
      room.conns.delete(conn);
      if (conn.registered && !conn.moved) room.metrics.lost.inc({ reason: why.startsWith("peer stopped answering") ? "keepalive" : "closed" });
      room.changed();
      settle(ev.code, reason);
    };
  });
}

// What the connector's rooms share: its connections to the edge as they are now, whether it
// drains, and the counts read from them. The connection, the stream server and the drain
// each take this room as an input instead of closing over each other's variables.
import type { OpenMeta } from "../wire/frame.ts";
import type { Mux, Stream } from "../wire/mux.ts";
import type { EdgeTarget } from "./edges.ts";
import type { TunnelMetrics } from "./metrics.ts";

export interface Connection {
  index: number;
  target: EdgeTarget;
  mux?: Mux;
  registered: boolean;
  registeredAt: number;
  /** The edge said go-away: a replacement is opening, this one serves its streams out. */
  moved: boolean;
  close(reason: string): void;
}

/** How a connection ended, for the supervisor: closed, or moved (still serving its streams). */
export interface Ended {
  registered: boolean;
  registeredAt: number;
  moved: boolean;
  code: number;
  reason: string;
}

export interface TunnelRoom {
  connectorId: string;
  hostnames: string[];
  credential: { id: string; secret: string };
  ca?: string;
  keepalive: { intervalMs: number; timeoutMs: number };
  metrics: TunnelMetrics;
  /** Every connection from its dial until its socket closes. */
  conns: Set<Connection>;
  /** A drain began: no connection takes new streams. */
  draining: boolean;
  /** No connection is replaced any more: a drain, or a connection gave up. */
  stopping(): boolean;
  /** A stream the edge opened on `c`. */
  serve(c: Connection, stream: Stream, meta: OpenMeta): void;
  /** A connection or stream came or went: gauges, and whoever waits for the connector to be idle. */
  changed(): void;
}

/** Takes new streams: registered, not moved, the edge not leaving, and no drain. */
export const routable = (room: TunnelRoom, c: Connection) => c.registered && !c.moved && !room.draining && !!c.mux && !c.mux.closed && !c.mux.peerGoingAway;

export const connectionsUp = (room: TunnelRoom) => [...room.conns].filter((c) => routable(room, c)).length;

export const liveStreams = (room: TunnelRoom) => [...room.conns].reduce((n, c) => n + (c.mux && !c.mux.closed ? c.mux.streams.size : 0), 0);

/** A connection that takes no new streams closes once its last stream ends. */
export function closeIfIdle(room: TunnelRoom, c: Connection) {
  if ((c.moved || room.draining) && c.mux && c.mux.streams.size === 0) c.close(room.draining ? "connector stopped" : "moved to a new connection");
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

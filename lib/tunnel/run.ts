// The connector: keeps `haConnections` WebSockets to the edge (supervisor.ts), each carrying
// many streams (connection.ts), and serves every stream by dialing the origin its hostname
// maps to (streams.ts). SIGTERM drains: go-away on every connection, live streams run out or
// the grace period ends.
import { hostname as machineName } from "node:os";
import { aborted, createChanges, waitUntilIdle, type Changes } from "../async.ts";
import type { WicketError } from "../cli/exit.ts";
import { log } from "../cli/log.ts";
import type { Readiness } from "../metrics/server.ts";
import { ResetCode } from "../wire/frame.ts";
import { DEFAULT_KEEPALIVE } from "../wire/mux.ts";
import { connectOnce } from "./connection.ts";
import { resolveEdgeTargets, type Lookup } from "./edges.ts";
import { createTunnelMetrics, type TunnelMetrics } from "./metrics.ts";
import { closeIfIdle, connectionsUp, liveStreams, plural, type TunnelRoom } from "./room.ts";
import { BACKOFF } from "./settings.ts";
import { serveStream, type Routes } from "./streams.ts";
import { endParked } from "./resumable.ts";
import { supervise } from "./supervisor.ts";

export interface TunnelOptions extends Routes {
  /** Edge URLs; connections spread over them and over the addresses each name resolves to. */
  edges: string[];
  credential: { id: string; secret: string; zone: string };
  ca?: string;
  haConnections: number;
  gracePeriodMs: number;
  /** Consecutive failed attempts per connection before giving up; Infinity by default. */
  retries: number;
  backoff?: { baseMs: number; capMs: number };
  keepalive?: { intervalMs: number; timeoutMs: number };
  signal: AbortSignal;
  metrics?: TunnelMetrics;
  lookup?: Lookup;
}

export interface Tunnel {
  connectorId: string;
  /** For /ready: ready while at least one connection takes new streams and no drain began. */
  status(): Readiness;
  /** Resolves after a drain; rejects with the error that made the connector give up. */
  done: Promise<void>;
}

export function startTunnel(opts: TunnelOptions): Tunnel {
  const stop = new AbortController(); // a connection gave up
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  let failure: WicketError | undefined;
  const changes = createChanges();
  const metrics = opts.metrics ?? createTunnelMetrics();
  const room: TunnelRoom = {
    connectorId: `${machineName()}-${crypto.randomUUID().slice(0, 8)}`,
    hostnames: opts.ingress.map((i) => i.hostname),
    credential: opts.credential,
    ca: opts.ca,
    keepalive: opts.keepalive ?? DEFAULT_KEEPALIVE,
    metrics,
    conns: new Set(),
    draining: false,
    stopping: () => signal.aborted,
    serve: (c, stream, meta) => serveStream(room, opts, c, stream, meta),
    changed() {
      metrics.connections.set(connectionsUp(room));
      metrics.streamsOpen.set(liveStreams(room));
      changes.notify();
    },
  };
  const loops = supervise({
    connections: opts.haConnections,
    retries: opts.retries,
    backoff: opts.backoff ?? BACKOFF,
    signal,
    targets: () => resolveEdgeTargets(opts.edges, opts.lookup),
    dial: (index, target) => connectOnce(room, index, target),
    reconnecting: () => metrics.reconnects.inc(),
    giveUp(error) {
      failure ??= error;
      stop.abort();
    },
  });

  async function run(): Promise<void> {
    await aborted(signal);
    if (failure) {
      for (const c of room.conns) c.close("connector stopped");
      // a refused connector keeps nothing for a resume: its parked origins would hold the process
      endParked(room, "the connector was refused");
      throw failure;
    }
    await drain(room, changes, opts.gracePeriodMs);
    await loops;
  }

  return { connectorId: room.connectorId, status: () => status(room), done: run() };
}

function status(room: TunnelRoom): Readiness {
  const up = connectionsUp(room);
  return { ready: up > 0, status: room.draining ? "draining" : up > 0 ? "ready" : "connecting", connections: up, streams: liveStreams(room), connector: room.connectorId };
}

/** SIGTERM: no new streams (go-away), live ones run until they end or the grace period passes. */
export async function drain(room: TunnelRoom, changes: Changes, gracePeriodMs: number) {
  room.draining = true;
  room.metrics.draining.set(1);
  room.changed();
  for (const c of room.conns) c.mux?.goAway(ResetCode.goingAway, "connector is shutting down");
  const live = liveStreams(room);
  if (live === 0) log.info("draining: told the edge to send no new streams; no live streams, stopping now");
  else log.info(`draining: told the edge to send no new streams; ${plural(live, "live stream")} may continue up to ${gracePeriodMs / 1000} s; signal again to stop at once`);
  for (const c of [...room.conns]) closeIfIdle(room, c);
  await waitUntilIdle(() => liveStreams(room), changes, gracePeriodMs);
  const left = liveStreams(room);
  if (left > 0) log.warn(`grace period of ${gracePeriodMs / 1000} s is over: closing ${plural(left, "live stream")} and stopping`);
  else if (live > 0) log.info("drained: every stream ended; stopping");
  for (const c of [...room.conns]) c.close("connector stopped");
  // origins kept for a resume go with the connector: no one could resume them here any more
  const parked = endParked(room, "the connector stopped");
  if (parked > 0) log.info(`closed ${plural(parked, "origin")} kept for a resume`);
}

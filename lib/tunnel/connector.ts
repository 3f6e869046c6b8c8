// The connector: keeps `haConnections` WebSockets to the edge, each carrying many streams,
// and serves every stream by dialing the origin its hostname maps to.
//
// Each connection lives in its own loop: connect, serve until it ends, wait a full-jitter
// backoff, connect again (to the next edge target if it failed). A lost connection takes
// only its own streams with it; the edge sends new ones to the others meanwhile.
// SIGTERM drains: go-away on every connection, live streams run out or the grace period ends.
import { hostname as machineName } from "node:os";
import { log } from "../cli/log.ts";
import { configError, deniedError, unreachableError, WicketError } from "../cli/exit.ts";
import type { Readiness } from "../metrics/server.ts";
import { Close, closeReason } from "../wire/close.ts";
import { ResetCode, type OpenMeta } from "../wire/frame.ts";
import { clientTransport } from "../wire/ws-transport.ts";
import { createMux, DEFAULT_KEEPALIVE, type Mux, type Stream } from "../wire/mux.ts";
import { resolveEdgeTargets, type EdgeTarget, type Lookup } from "./edges.ts";
import { routeStream, type Ingress } from "./ingress.ts";
import { createTunnelMetrics, type TunnelMetrics } from "./metrics.ts";
import { pumpToOrigin, type Origin } from "./origin.ts";
import { BACKOFF } from "./settings.ts";

export type { Ingress } from "./ingress.ts";

export interface TunnelOptions {
  /** Edge URLs; connections spread over them and over the addresses each name resolves to. */
  edges: string[];
  credential: { id: string; secret: string; zone: string };
  ca?: string;
  ingress: Ingress[];
  /** Origin for streams whose hostname no rule names; absent: such streams are refused. */
  catchAll?: Origin;
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

/** A TLS or TCP handshake that has not finished after this is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 15_000;
/** A connection that moved away sooner than this after registering counts as a failure, so
 * that an edge which keeps sending go-away cannot make the connector spin. */
const MIN_STAY_MS = 1_000;

/** Close codes after which retrying cannot help: the operator must act. */
function fatal(code: number, reason: string): WicketError | undefined {
  if (code === Close.unauthenticated) return deniedError(`the edge refused this connector's credentials: ${reason}`);
  if (code === Close.denied) return deniedError(`the edge refused this connector: ${reason}`);
  if (code === Close.versionMismatch) return configError(reason);
  return undefined;
}

/** Full jitter: a random delay between 0 and min(cap, base * 2^attempt). */
export const backoffDelay = (attempt: number, baseMs: number, capMs: number) => Math.random() * Math.min(capMs, baseMs * 2 ** attempt);

interface Conn {
  index: number;
  target: EdgeTarget;
  mux?: Mux;
  registered: boolean;
  registeredAt: number;
  /** The edge said go-away: a replacement is opening, this one serves its streams out. */
  moved: boolean;
  close(reason: string): void;
}

interface Ended {
  registered: boolean;
  registeredAt: number;
  moved: boolean;
  code: number;
  reason: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function startTunnel(opts: TunnelOptions): Tunnel {
  const connectorId = `${machineName()}-${crypto.randomUUID().slice(0, 8)}`;
  const metrics = opts.metrics ?? createTunnelMetrics();
  const hostnames = opts.ingress.map((i) => i.hostname);
  const { baseMs, capMs } = opts.backoff ?? BACKOFF;
  const keepalive = opts.keepalive ?? DEFAULT_KEEPALIVE;
  const conns = new Set<Conn>();
  let failure: WicketError | undefined;
  let draining = false;
  const stopAll = new AbortController();
  const stopSignal = AbortSignal.any([opts.signal, stopAll.signal]);
  const stopping = () => stopSignal.aborted;

  const routable = (c: Conn) => c.registered && !c.moved && !draining && !!c.mux && !c.mux.closed && !c.mux.peerGoingAway;
  const countUp = () => [...conns].filter(routable).length;
  const liveStreams = () => [...conns].reduce((n, c) => n + (c.mux && !c.mux.closed ? c.mux.streams.size : 0), 0);
  const refresh = () => {
    metrics.connections.set(countUp());
    metrics.streamsOpen.set(liveStreams());
  };

  /** A connection that takes no new streams closes once its last stream ends. */
  const closeIfIdle = (c: Conn) => {
    if ((c.moved || draining) && c.mux && c.mux.streams.size === 0) c.close(draining ? "connector stopped" : "moved to a new connection");
  };

  function serveStream(c: Conn, stream: Stream, meta: OpenMeta) {
    const host = meta.host;
    const origin = routeStream(opts.ingress, opts.catchAll, host);
    metrics.streams.inc();
    if (!origin) {
      log.warn(`refused a stream for ${host}: no ingress rule names it and the catch-all refuses; add a rule for it`);
      stream.reset(ResetCode.refused, `this connector does not serve ${host}`);
      refresh();
      return;
    }
    log.debug(`stream ${stream.id} on connection ${c.index} for ${host} from ${meta.client} (${meta.identity}) -> ${origin.url}`);
    pumpToOrigin(stream, origin, {
      onOriginError: (o, why) => {
        metrics.originErrors.inc({ origin: o.url });
        log.warn(`cannot reach origin ${o.url} for ${host}: ${why}; the client was told, and the next stream will try again`);
      },
      onDialed: (o, ms) => metrics.originDial.observe(ms / 1000, { origin: o.url }),
      onBytes: (direction, n) => metrics.bytes.inc({ direction }, n),
    });
    const onClose = stream.onClose;
    stream.onClose = (code, reason) => {
      onClose?.(code, reason);
      log.debug(`stream ${stream.id} closed: ${reason}`);
      refresh();
      closeIfIdle(c);
    };
    refresh();
  }

  /** One connection; resolves when the loop should open another: it ended, or it moved. */
  function connectOnce(index: number, target: EdgeTarget): Promise<Ended> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { authorization: `Bearer ${opts.credential.id}.${opts.credential.secret}` };
      if (target.host) headers.host = target.host;
      const tls = { ...(opts.ca ? { ca: opts.ca } : {}), ...(target.servername ? { servername: target.servername } : {}) };
      const ws = new WebSocket(target.wsUrl, { headers, tls } as any);
      ws.binaryType = "nodebuffer";
      let settled = false;
      let why = ""; // our own reason for ending it, when we did
      let errorMessage = "";
      const conn: Conn = {
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
      conns.add(conn);
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
        conn.mux = createMux({
          role: "acceptor",
          transport,
          pingIntervalMs: keepalive.intervalMs,
          deadAfterMs: keepalive.timeoutMs,
          onHello(_v, _meta, ack) {
            if (!ack || conn.registered) return;
            conn.registered = true;
            conn.registeredAt = Date.now();
            log.info(`connection ${index} registered with ${target.label} for ${hostnames.join(", ")}`);
            if (draining) {
              conn.mux!.goAway(ResetCode.goingAway, "connector is shutting down");
              closeIfIdle(conn);
            }
            refresh();
          },
          onStream: (stream, meta) => serveStream(conn, stream, meta),
          onGoAway(_code, reason) {
            if (stopping()) return;
            conn.moved = true;
            const live = conn.mux!.streams.size;
            log.info(`edge ${target.label} asked connection ${index} to move (${reason}); opening a new connection now${live ? `, the ${plural(live, "live stream")} here continue until they end` : ""}`);
            metrics.lost.inc({ reason: "moved" });
            refresh();
            settle(1000, reason);
            closeIfIdle(conn);
          },
        });
        conn.mux.hello({ hostnames, connector: connectorId, index });
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
        conns.delete(conn);
        if (conn.registered && !conn.moved) metrics.lost.inc({ reason: why.startsWith("peer stopped answering") ? "keepalive" : "closed" });
        refresh();
        settle(ev.code, reason);
      };
    });
  }

  async function keepConnection(index: number) {
    let failures = 0; // attempts in a row that did not register
    let offset = 0; // which target, counted from this connection's own
    let first = true;
    while (!stopping()) {
      const targets = await resolveEdgeTargets(opts.edges, opts.lookup);
      if (stopping()) return;
      const target = targets[(index + offset) % targets.length]!;
      if (!first) metrics.reconnects.inc();
      first = false;
      const r = await connectOnce(index, target);
      if (stopping()) return;
      const fatalError = fatal(r.code, r.reason);
      if (fatalError) {
        failure ??= fatalError;
        stopAll.abort();
        return;
      }
      const quickMove = r.moved && Date.now() - r.registeredAt < MIN_STAY_MS;
      if (r.registered && !quickMove) failures = 0;
      else failures++;
      if (!r.registered || r.moved) offset++; // another node, where there are several
      if (failures > opts.retries) {
        // the thrown error is the one line that says it
        failure ??= unreachableError(`connection ${index} to ${target.label} failed (${r.reason}) and that was the last of ${opts.retries} ${opts.retries === 1 ? "retry" : "retries"} (--retries): the connector stops; check that the edge is up and reachable, then start it again`);
        stopAll.abort();
        return;
      }
      if (r.moved && !quickMove) continue; // onGoAway said what happens next
      const delay = backoffDelay(failures, baseMs, capMs);
      const next = targets[(index + offset) % targets.length]!;
      const attempt = opts.retries === Infinity ? `attempt ${failures + 1}` : `attempt ${failures + 1} of ${opts.retries + 1}`;
      log.warn(
        r.registered
          ? `connection ${index} to ${target.label} lost (${r.reason}); reconnecting to ${next.label} in ${(delay / 1000).toFixed(1)} s; its streams ended, the other connections carry new ones`
          : `connection ${index} to ${target.label} failed (${r.reason}); retrying ${next.label} in ${(delay / 1000).toFixed(1)} s (${attempt})`,
      );
      await sleep(delay, stopSignal);
    }
  }

  async function run(): Promise<void> {
    const loops = Array.from({ length: opts.haConnections }, (_, i) => keepConnection(i));
    await new Promise<void>((r) => (stopping() ? r() : stopSignal.addEventListener("abort", () => r(), { once: true })));
    if (failure) {
      for (const c of conns) c.close("connector stopped");
      throw failure;
    }
    await drain();
    await Promise.all(loops);
  }

  /** SIGTERM: no new streams (go-away), live ones run until they end or the grace period passes. */
  async function drain() {
    draining = true;
    metrics.draining.set(1);
    refresh();
    for (const c of conns) c.mux?.goAway(ResetCode.goingAway, "connector is shutting down");
    const live = liveStreams();
    if (live === 0) log.info("draining: told the edge to send no new streams; no live streams, stopping now");
    else log.info(`draining: told the edge to send no new streams; ${plural(live, "live stream")} may continue up to ${opts.gracePeriodMs / 1000} s; signal again to stop at once`);
    for (const c of [...conns]) closeIfIdle(c);
    const deadline = Date.now() + opts.gracePeriodMs;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (liveStreams() === 0 || Date.now() >= deadline) {
          clearInterval(t);
          resolve();
        }
      };
      const t = setInterval(check, 100);
      check();
    });
    const left = liveStreams();
    if (left > 0) log.warn(`grace period of ${opts.gracePeriodMs / 1000} s is over: closing ${plural(left, "live stream")} and stopping`);
    else if (live > 0) log.info("drained: every stream ended; stopping");
    for (const c of [...conns]) c.close("connector stopped");
  }

  return {
    connectorId,
    status: () => {
      const up = countUp();
      return { ready: up > 0, status: draining ? "draining" : up > 0 ? "ready" : "connecting", connections: up, streams: liveStreams(), connector: connectorId };
    },
    done: run(),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

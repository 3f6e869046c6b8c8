// The connector: keeps `haConnections` WebSockets to the edge, each carrying many streams,
// and serves every stream by dialing the origin its hostname maps to.
import { hostname as machineName } from "node:os";
import { log } from "../cli/log.ts";
import { configError, deniedError, unreachableError, WicketError } from "../cli/exit.ts";
import { Close } from "../wire/close.ts";
import { ResetCode } from "../wire/frame.ts";
import { CONNECT_PATH } from "../wire/http.ts";
import { createSession, type Session } from "../wire/mux.ts";
import { pumpToOrigin, type Origin } from "./origin.ts";

export interface Ingress {
  hostname: string;
  origin: Origin;
}

export interface TunnelOptions {
  edge: string;
  credential: { id: string; secret: string; zone: string };
  ca?: string;
  ingress: Ingress[];
  haConnections: number;
  gracePeriodMs: number;
  /** Consecutive failed attempts per connection before giving up; Infinity by default. */
  retries: number;
  backoff?: { baseMs: number; capMs: number };
  signal: AbortSignal;
  /** Called whenever the number of registered connections changes. */
  onConnections?(up: number): void;
}

const KEEPALIVE_MS = 5_000;
const DEAD_AFTER_MS = 15_000;
/** How often a connection whose WebSocket is full checks whether it drained (Bun's client
 * WebSocket has no drain event). */
const DRAIN_POLL_MS = 2;

/** Close codes after which retrying cannot help: the operator must act. */
function fatal(code: number, reason: string): WicketError | undefined {
  if (code === Close.unauthenticated) return deniedError(`the edge refused the zone credential: ${reason}`);
  if (code === Close.denied) return deniedError(`the edge refused this connector: ${reason}`);
  if (code === Close.versionMismatch) return configError(reason);
  return undefined;
}

/** Full jitter: a random delay between 0 and min(cap, base * 2^attempt). */
export const backoffDelay = (attempt: number, baseMs: number, capMs: number) => Math.random() * Math.min(capMs, baseMs * 2 ** attempt);

export async function runTunnel(opts: TunnelOptions): Promise<void> {
  const connectorId = `${machineName()}-${crypto.randomUUID().slice(0, 8)}`;
  const routes = new Map(opts.ingress.map((i) => [i.hostname, i.origin]));
  const sessions = new Set<Session>();
  const { baseMs, capMs } = opts.backoff ?? { baseMs: 500, capMs: 30_000 };
  let registered = 0;
  let failure: WicketError | undefined;
  const stopAll = new AbortController();
  const stopping = () => opts.signal.aborted || stopAll.signal.aborted;

  /** One connection attempt; resolves when it ends, with whether it got registered. */
  function connectOnce(index: number): Promise<{ registered: boolean; code: number; reason: string }> {
    return new Promise((resolve) => {
      const url = new URL(CONNECT_PATH, opts.edge).toString().replace(/^http/, "ws");
      const ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${opts.credential.id}.${opts.credential.secret}` },
        tls: opts.ca ? { ca: opts.ca } : undefined,
      } as any);
      ws.binaryType = "nodebuffer";
      let isRegistered = false;
      let drainTimer: Timer | undefined;
      let errorMessage = "";
      const session = createSession({
        role: "connector",
        transport: {
          send(b) {
            ws.send(b);
            // a stream may now wait for room: look after this burst of writes
            if (!drainTimer && ws.bufferedAmount > 0) queueMicrotask(pollDrain);
          },
          buffered: () => ws.bufferedAmount,
          close: (c, r) => ws.close(c === 1002 ? 1002 : c >= 4000 ? c : 1000, r),
        },
        pingIntervalMs: KEEPALIVE_MS,
        deadAfterMs: DEAD_AFTER_MS,
        onHello(_v, _meta, ack) {
          if (!ack || isRegistered) return;
          isRegistered = true;
          registered++;
          opts.onConnections?.(registered);
          log.info(`connection ${index} registered with ${opts.edge} for ${[...routes.keys()].join(", ")}`);
        },
        onStream(stream, meta) {
          const host = String(meta.host ?? "");
          const origin = routes.get(host);
          if (!origin) return stream.reset(ResetCode.refused, `this connector does not serve ${host}`);
          log.debug(`stream ${stream.id} for ${host} from ${meta.client} (${meta.identity}) -> ${origin.url}`);
          pumpToOrigin(stream, origin, {
            onOriginError: (o, why) => log.warn(`cannot reach origin ${o.url} for ${host}: ${why}; the client was told, and the next stream will try again`),
          });
          stream.onClose = ((prev) => (code: number, reason: string) => {
            prev?.(code, reason);
            log.debug(`stream ${stream.id} closed: ${reason}`);
          })(stream.onClose);
        },
        onGoAway(_code, reason) {
          log.info(`edge asked connection ${index} to move: ${reason}; reconnecting`);
          // New streams will not come here; open a fresh connection and let this one drain.
          ws.close(1000, "edge going away");
        },
      });
      const pollDrain = () => {
        if (drainTimer || !session.waiting) return;
        drainTimer = setInterval(() => {
          session.drained();
          if (!session.waiting) {
            clearInterval(drainTimer);
            drainTimer = undefined;
          }
        }, DRAIN_POLL_MS);
      };
      ws.onopen = () => {
        sessions.add(session);
        session.hello({ hostnames: [...routes.keys()], connector: connectorId, index });
      };
      ws.onmessage = (ev) => {
        session.receive(ev.data as Uint8Array);
        pollDrain();
      };
      ws.onerror = (ev) => {
        errorMessage = (ev as ErrorEvent).message ?? "";
      };
      ws.onclose = (ev) => {
        if (drainTimer) clearInterval(drainTimer);
        sessions.delete(session);
        session.close(ev.reason || errorMessage || `closed with code ${ev.code}`);
        if (isRegistered) {
          registered--;
          opts.onConnections?.(registered);
        }
        resolve({ registered: isRegistered, code: ev.code, reason: ev.reason || errorMessage || `closed with code ${ev.code}` });
      };
    });
  }

  async function keepConnection(index: number) {
    let attempt = 0;
    while (!stopping()) {
      const r = await connectOnce(index);
      if (stopping()) return;
      const fatalError = fatal(r.code, r.reason);
      if (fatalError) {
        failure ??= fatalError;
        stopAll.abort();
        return;
      }
      attempt = r.registered ? 0 : attempt + 1;
      if (attempt > opts.retries) {
        failure ??= unreachableError(`gave up on the edge ${opts.edge} after ${opts.retries} retries: ${r.reason}`);
        stopAll.abort();
        return;
      }
      const delay = backoffDelay(attempt, baseMs, capMs);
      log.warn(`connection ${index} to ${opts.edge} lost (${r.reason}); retrying in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay, AbortSignal.any([opts.signal, stopAll.signal]));
    }
  }

  const loops = Array.from({ length: opts.haConnections }, (_, i) => keepConnection(i));
  await Promise.race([Promise.all(loops), new Promise((r) => opts.signal.addEventListener("abort", r, { once: true })), new Promise((r) => stopAll.signal.addEventListener("abort", r, { once: true }))]);
  if (failure) {
    for (const s of sessions) s.close("connector stopped");
    throw failure;
  }
  await drain([...sessions], opts.gracePeriodMs, opts.signal);
}

/** SIGTERM: no new streams (go-away), live ones run until they end or the grace period passes. */
async function drain(sessions: Session[], graceMs: number, _signal: AbortSignal) {
  const live = () => sessions.reduce((n, s) => n + (s.closed ? 0 : s.streams.size), 0);
  for (const s of sessions) s.goAway(ResetCode.goingAway, "connector is shutting down");
  if (live() > 0) {
    log.info(`draining ${live()} live stream(s), up to ${graceMs / 1000} s; signal again to stop at once`);
    const deadline = Date.now() + graceMs;
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (live() === 0 || Date.now() >= deadline) {
          clearInterval(t);
          resolve();
        }
      }, 100);
    });
  }
  for (const s of sessions) s.close("connector stopped");
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

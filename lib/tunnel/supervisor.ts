// Keeping N connections to the edge. Each lives in its own loop: connect, serve until it ends,
// wait a full-jitter backoff, connect again (to the next edge target if it failed). A lost
// connection takes only its own streams with it; the edge sends new ones to the others
// meanwhile. A refusal that retrying cannot mend, or the last of --retries, gives up.
import { sleep } from "../async.ts";
import { configError, deniedError, unreachableError, type WicketError } from "../cli/exit.ts";
import { log } from "../cli/log.ts";
import { Close } from "../wire/close.ts";
import type { EdgeTarget } from "./edges.ts";
import type { Ended } from "./room.ts";

/** A connection that moved away sooner than this after registering counts as a failure, so
 * that an edge which keeps sending go-away cannot make the connector spin. */
export const MIN_STAY_MS = 1_000;

/** Close codes after which retrying cannot help: the operator must act. */
export function fatal(code: number, reason: string): WicketError | undefined {
  if (code === Close.unauthenticated) return deniedError(`the edge refused this connector's credentials: ${reason}`);
  if (code === Close.denied) return deniedError(`the edge refused this connector: ${reason}`);
  if (code === Close.versionMismatch) return configError(reason);
  return undefined;
}

/** Full jitter: a random delay between 0 and min(cap, base * 2^attempt). */
export const backoffDelay = (attempt: number, baseMs: number, capMs: number, random: () => number = Math.random) => random() * Math.min(capMs, baseMs * 2 ** attempt);

export interface SupervisorOptions {
  /** How many connections to keep (--ha-connections). */
  connections: number;
  /** Consecutive failed attempts per connection before giving up; Infinity never does. */
  retries: number;
  backoff: { baseMs: number; capMs: number };
  /** Once it fires no loop dials again; each returns when its connection ends. */
  signal: AbortSignal;
  /** Where connections may go now, looked up again before every attempt. */
  targets(): Promise<EdgeTarget[]>;
  /** Resolves when the connection ended or moved (connection.ts). */
  dial(index: number, target: EdgeTarget): Promise<Ended>;
  /** A connection cannot go on; the caller stops the others (fires `signal`) and says why. */
  giveUp(error: WicketError): void;
  /** A connection is being replaced (every attempt after its first). */
  reconnecting?(): void;
  /** Between attempts; a test passes one that returns at once. */
  wait?(ms: number, signal: AbortSignal): Promise<unknown>;
  random?(): number;
}

/** Resolves once every loop has returned: the signal fired, or its connection gave up. */
export async function supervise(o: SupervisorOptions): Promise<void> {
  await Promise.all(Array.from({ length: o.connections }, (_, i) => keepConnection(o, i)));
}

/** Connection `index`, dialed again and again until the signal fires or it gives up. */
export async function keepConnection(o: SupervisorOptions, index: number): Promise<void> {
  const wait = o.wait ?? sleep;
  let failures = 0; // attempts in a row that did not register
  let offset = 0; // which target, counted from this connection's own
  let first = true;
  while (!o.signal.aborted) {
    const targets = await o.targets();
    if (o.signal.aborted) return;
    const target = targets[(index + offset) % targets.length]!;
    if (!first) o.reconnecting?.();
    first = false;
    const r = await o.dial(index, target);
    if (o.signal.aborted) return;
    const fatalError = fatal(r.code, r.reason);
    if (fatalError) return o.giveUp(fatalError);
    const quickMove = r.moved && Date.now() - r.registeredAt < MIN_STAY_MS;
    if (r.registered && !quickMove) failures = 0;
    else failures++;
    if (!r.registered || r.moved) offset++; // another node, where there are several
    if (failures > o.retries) {
      // the thrown error is the one line that says it
      const retries = `${o.retries} ${o.retries === 1 ? "retry" : "retries"}`;
      return o.giveUp(unreachableError(`connection ${index} to ${target.label} failed (${r.reason}) and that was the last of ${retries} (--retries): the connector stops; check that the edge is up and reachable, then start it again`));
    }
    if (r.moved && !quickMove) continue; // the connection said what happens next
    const delay = backoffDelay(failures, o.backoff.baseMs, o.backoff.capMs, o.random);
    const next = targets[(index + offset) % targets.length]!;
    const attempt = o.retries === Infinity ? `attempt ${failures + 1}` : `attempt ${failures + 1} of ${o.retries + 1}`;
    log.warn(
      r.registered
        ? `connection ${index} to ${target.label} lost (${r.reason}); reconnecting to ${next.label} in ${(delay / 1000).toFixed(1)} s; its streams ended, the other connections carry new ones`
        : `connection ${index} to ${target.label} failed (${r.reason}); retrying ${next.label} in ${(delay / 1000).toFixed(1)} s (${attempt})`,
    );
    await wait(delay, o.signal);
  }
}

// How fast each device code is polled (RFC 8628 3.5), kept in memory: a poll that comes before
// its interval is over is answered slow_down, and its interval grows, without the store being
// asked or written. A client polling as fast as it can costs the edge a map lookup, not a write
// that other tenants' decisions queue behind. On several nodes each keeps its own pace; a client
// that spreads its polls polls each node at most at its interval.

/** RFC 8628 3.5: each slow_down adds 5 seconds to the interval, for that poll and every later one. */
export const SLOW_DOWN_STEP_MS = 5_000;

/** Timers are not exact: a poll this much of the interval early still counts as on time. */
export const POLL_SLACK = 0.2;

/** Codes whose polls are tracked; past this the least recently polled is forgotten (and its next poll is a first one). */
export const MAX_TRACKED_POLLS = 20_000;

/** A code's last poll and the interval in force for it. */
export type Pace = { at: number; intervalMs: number };

export type PollPace = { now: () => number; max: number; codes: Map<string, Pace> };

export function createPollPace(o: { now?: () => number; max?: number } = {}): PollPace {
  return { now: o.now ?? Date.now, max: o.max ?? MAX_TRACKED_POLLS, codes: new Map() };
}

/**
 * For a poll of the code `key` (its hash) that comes too early: records it, raises its
 * interval by a step and answers the new interval. Otherwise undefined, and nothing recorded:
 * `polled` does that once the code is known to exist.
 */
export function tooEarly(p: PollPace, key: string): number | undefined {
  const pace = p.codes.get(key);
  const now = p.now();
  if (!pace || now - pace.at >= pace.intervalMs * (1 - POLL_SLACK)) return undefined;
  const intervalMs = pace.intervalMs + SLOW_DOWN_STEP_MS;
  p.codes.delete(key);
  p.codes.set(key, { at: now, intervalMs });
  return intervalMs;
}

/** Records an on-time poll of an existing code; `intervalMs` is its interval when first polled. */
export function polled(p: PollPace, key: string, intervalMs: number): void {
  const known = p.codes.get(key);
  p.codes.delete(key);
  p.codes.set(key, { at: p.now(), intervalMs: known?.intervalMs ?? intervalMs });
  if (p.codes.size > p.max) p.codes.delete(p.codes.keys().next().value!);
}

// Stopping an edge gracefully: stop accepting, tell every connector to move (go-away), let
// client streams run out for up to the grace period, then close what is left. The wait ends on
// an event, the last stream or connection gone, not on a poll.
import { log } from "../../cli/log.ts";
import { ResetCode } from "../../wire/frame.ts";
import type { ConnectorRegistry } from "./connectors.ts";

/** Something that changes: `notify` wakes every `next()` waiting now. */
export function createChanges() {
  let waiters: (() => void)[] = [];
  return {
    notify() {
      const woken = waiters;
      waiters = [];
      for (const w of woken) w();
    },
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}
export type Changes = ReturnType<typeof createChanges>;

/** Waits until `live()` is 0 (true) or `ms` have passed (false), looking at each change. */
export async function waitUntilIdle(live: () => number, changes: Changes, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (live() > 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: Timer | undefined;
    await Promise.race([changes.next(), new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
    clearTimeout(timer);
  }
  return true;
}

/** Go-away to every connector, then the wait for client streams and connector connections. */
export async function drainConnections(edge: { connectors: ConnectorRegistry; clients: { readonly size: number }; changes: Changes; changed(): void }, graceMs: number) {
  const { connectors, clients, changes } = edge;
  for (const c of connectors.all()) c.mux.goAway(ResetCode.goingAway, "edge is shutting down");
  edge.changed();
  // Connectors close a moved connection once its streams are done, so waiting for them also
  // waits for the go-away to have arrived.
  log.info(`draining: told ${connectors.size()} connector connection(s) to move; ${clients.size} client stream(s) may continue up to ${graceMs / 1000} s; signal again to stop at once`);
  await waitUntilIdle(() => clients.size + connectors.size(), changes, graceMs);
  if (clients.size > 0) log.warn(`grace period over: closing ${clients.size} client stream(s)`);
  else log.info("drained: every client stream ended and every connector moved; stopping");
}

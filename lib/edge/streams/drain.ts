// Stopping an edge gracefully: stop accepting, tell every connector to move (go-away), let
// client streams run out for up to the grace period, then close what is left. The wait ends on
// an event, the last stream or connection gone, not on a poll.
import { waitUntilIdle, type Changes } from "../../async.ts";
import { log } from "../../cli/log.ts";
import { ResetCode } from "../../wire/frame.ts";
import type { Connectors } from "./connectors.ts";

/** Go-away to every connector, then the wait for client streams and connector connections. */
export async function drainConnections(edge: { connectors: Connectors; clients: { readonly size: number }; changes: Changes; changed(): void; moveResumable?(): number }, graceMs: number) {
  const { connectors, clients, changes } = edge;
  for (const c of connectors.all()) c.mux.goAway(ResetCode.goingAway, "edge is shutting down");
  // resumable streams lose nothing by moving: their clients go now, to resume elsewhere
  const moved = edge.moveResumable?.() ?? 0;
  if (moved > 0) log.info(`draining: told ${moved} client(s) with resumable streams to resume elsewhere`);
  edge.changed();
  // Connectors close a moved connection once its streams are done, so waiting for them also
  // waits for the go-away to have arrived.
  log.info(`draining: told ${connectors.size()} connector connection(s) to move; ${clients.size} client stream(s) may continue up to ${graceMs / 1000} s; signal again to stop at once`);
  await waitUntilIdle(() => clients.size + connectors.size(), changes, graceMs);
  if (clients.size > 0) log.warn(`grace period over: closing ${clients.size} client stream(s)`);
  else log.info("drained: every client stream ended and every connector moved; stopping");
}

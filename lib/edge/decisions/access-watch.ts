// The node's one store watcher. Access changes made through any node (a revocation, a policy,
// a zone, a signing key) move the store's access revision; when it moved, the node runs
// `onChange` (reload keys, issue certificates, re-check live sessions). On PostgreSQL the
// store announces each move (LISTEN/NOTIFY) and the node checks at once; the poll stays as a
// slow safety net for a notification lost while the listening connection was down. On SQLite
// (one node) the poll is the mechanism. A pass that fails is tried again at the next tick.
import { log } from "../../cli/log.ts";
import { ACCESS_CHANNEL, accessRevision, type Store } from "../../store/index.ts";
import { coalesced } from "../runtime/coalesce.ts";

/** How often each node looks for access changes made elsewhere (another node, or while a session opened). */
export const ACCESS_POLL_MS = 500;
/** On PostgreSQL, where changes are pushed: how often the node looks anyway. */
export const ACCESS_SAFETY_NET_MS = 5_000;

/**
 * Starts watching; returns the function that stops it. `intervalMs` is the poll where polling
 * is the mechanism, and how soon a failed pass is tried again; `safetyNetMs` the poll where
 * changes are pushed.
 */
export function watchAccess(store: Store, intervalMs: number, onChange: () => Promise<unknown>, { safetyNetMs = ACCESS_SAFETY_NET_MS } = {}): () => Promise<void> {
  let seen: number | undefined;
  let failed = false;
  let lastPass = 0;
  let pushed = false;
  let stopped = false;

  // a notification during a pass, which may have read the old revision, makes another
  const check = coalesced(async () => {
    if (stopped) return;
    try {
      lastPass = Date.now();
      const rev = await accessRevision(store);
      if (rev !== seen) await onChange();
      seen = rev; // only now: a pass that failed is tried again
      failed = false;
    } catch (e) {
      failed = true;
      log.warn(`cannot check the store for access changes: ${(e as Error).message}`);
    }
  });

  const timer = setInterval(() => {
    if (pushed && !failed && Date.now() - lastPass < safetyNetMs) return;
    void check();
  }, intervalMs);
  timer.unref?.();

  // `onlisten` runs on the first LISTEN and again after each reconnect: the check then catches
  // whatever was announced while the connection was down.
  const listening =
    store.adapter === "postgres"
      ? store.sql
          .listen(
            ACCESS_CHANNEL,
            () => void check(),
            () => {
              pushed = true;
              void check();
            },
          )
          .catch((e: Error) => {
            log.warn(`cannot listen for access changes (${e.message}); polling the store every ${intervalMs} ms instead`);
            return undefined;
          })
      : undefined;

  return async () => {
    stopped = true;
    clearInterval(timer);
    await (await listening)?.unlisten().catch(() => {});
  };
}

// The node's one store watcher. Access changes made through any node (a revocation, a policy,
// a zone, a signing key) move the store's access revision; each node polls it and, when it
// moved, runs `onChange` (reload keys, issue certificates, re-check live sessions). A pass that
// fails is tried again at the next tick.
import { log } from "../cli/log.ts";
import { accessRevision, type Store } from "../store/index.ts";

/** How often each node looks for access changes made elsewhere (another node, or while a session opened). */
export const ACCESS_POLL_MS = 500;

/** Starts polling; returns the function that stops it. */
export function watchAccess(store: Store, intervalMs: number, onChange: () => Promise<unknown>): () => void {
  let seen: number | undefined;
  let polling = false;
  const timer = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      const rev = await accessRevision(store);
      if (rev === seen) return;
      await onChange();
      seen = rev; // only now: a pass that failed is tried again at the next tick
    } catch (e) {
      log.warn(`cannot poll the store for access changes: ${(e as Error).message}`);
    } finally {
      polling = false;
    }
  }, intervalMs);
  timer.unref?.();
  return () => clearInterval(timer);
}

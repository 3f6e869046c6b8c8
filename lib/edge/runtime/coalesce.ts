// Work that reruns when something changes (the ACME pass, the store watcher's check, the
// cluster heartbeat): one run at a time, and a call that comes during a run, however late in
// it, makes one more run after it (calls that come together make one).

/**
 * `fn`, one run at a time. The returned function starts a run, or, during one, asks for one
 * more after it; either way its promise settles when no run is left to do. `fn` handles its
 * own errors: one that escapes ends the loop and rejects.
 */
export function coalesced(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        // in the same turn as the loop's last check: no call can fall between the two
        running = undefined;
      }
    })();
    return running;
  };
}

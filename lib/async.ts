// Waiting without polling: a sleep that a signal cuts short, the moment a signal fires, and
// a wait until something is idle that wakes on each change. The connector, the edge and the
// CLI's polls all wait through these.

/** Resolves after `ms` (true), or as soon as `signal` fires (false); no timer or listener outlives it. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const finish = (slept: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", cut);
      resolve(slept);
    };
    const cut = () => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    signal?.addEventListener("abort", cut, { once: true });
  });
}

/** Resolves when `signal` fires (at once if it has). */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
}

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

/** Waits until `live()` is 0 (true) or `ms` have passed (false), looking again at each change. */
export async function waitUntilIdle(live: () => number, changes: Changes, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (live() > 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const woken = new AbortController(); // ends the sleep when a change came first
    await Promise.race([changes.next(), sleep(left, woken.signal)]);
    woken.abort();
  }
  return true;
}

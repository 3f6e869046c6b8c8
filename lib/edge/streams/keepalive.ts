// Keepalive for client WebSockets: one timer pings every client and drops those that have
// said nothing (no message, no pong) for the timeout. Bun's own idle timeout works in 4 s
// steps and cannot be told apart from ours in logs, so the edge uses this one instead.
export interface Watched {
  ping(): void;
  /** The peer went silent: drop it without a close handshake. */
  dead(silentMs: number): void;
}

export function createKeepalive(opts: { intervalMs: number; timeoutMs: number }) {
  const watched = new Map<Watched, { heard: number; pinged: number }>();
  let timer: Timer | undefined;
  const tick = () => {
    const now = Date.now();
    for (const [w, t] of [...watched]) {
      if (now - t.heard > opts.timeoutMs) {
        watched.delete(w);
        w.dead(now - t.heard);
      } else if (now - t.pinged >= opts.intervalMs) {
        t.pinged = now;
        w.ping();
      }
    }
  };
  return {
    add(w: Watched) {
      const now = Date.now();
      watched.set(w, { heard: now, pinged: now });
      if (!timer) {
        timer = setInterval(tick, Math.max(10, Math.min(opts.intervalMs, opts.timeoutMs / 8)));
        timer.unref?.();
      }
    },
    heard(w: Watched) {
      const t = watched.get(w);
      if (t) t.heard = Date.now();
    },
    remove(w: Watched) {
      watched.delete(w);
      if (watched.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
  };
}

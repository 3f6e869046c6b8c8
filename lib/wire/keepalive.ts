// Pings on a mux connection: the keepalive that notices a dead or stalled peer, and the round
// trips the pacer and the stream windows size themselves by. Our ping carries the time it
// left; its answer gives the round trip.
import { pingFrame } from "./encode.ts";
import type { Frame } from "./frame.ts";

/** Keepalive of connector connections on both ends: a dead or stalled peer is noticed
 * within `timeoutMs` (plus one check period, an eighth of it) and its connection dropped. */
export const DEFAULT_KEEPALIVE = { intervalMs: 2_000, timeoutMs: 6_000 } as const;

/** A ping that says when it left. */
export function timedPing(now: number): Uint8Array {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setFloat64(0, now);
  return pingFrame(payload);
}

/** The round trip an answer to one of our timed pings measured. */
export const pingRtt = (answer: Frame, now: number) => now - new DataView(answer.payload.buffer, answer.payload.byteOffset, 8).getFloat64(0);

export interface KeepaliveOptions {
  intervalMs: number;
  deadAfterMs: number;
  /** When the peer was last heard from (Date.now()). */
  lastHeard(): number;
  ping(): void;
  dead(reason: string): void;
}

/** One timer per connection, checking a few times per timeout so that a silent peer is
 * declared dead close to `deadAfterMs`, not up to a whole ping interval later. Returns stop. */
export function startKeepalive(o: KeepaliveOptions): () => void {
  let lastPing = 0;
  const timer = setInterval(
    () => {
      const now = Date.now();
      const silent = now - o.lastHeard();
      if (silent > o.deadAfterMs) {
        o.dead(`peer stopped answering: nothing heard for ${(silent / 1000).toFixed(1)} s (keepalive timeout ${o.deadAfterMs / 1000} s)`);
        return;
      }
      if (now - lastPing >= o.intervalMs) {
        lastPing = now;
        o.ping();
      }
    },
    Math.max(10, Math.min(o.intervalMs, o.deadAfterMs / 8)),
  );
  timer.unref?.();
  return () => clearInterval(timer);
}

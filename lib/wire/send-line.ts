// Whose turn it is to send on a connection: streams with bytes queued and credit to send them
// wait in line, and are served round-robin, one data frame each per round, so a bulk copy
// cannot starve a keystroke. A stream out of credit is not in line (it waits for a window
// frame, and costs the others nothing).
import type { MuxStream } from "./stream.ts";

export interface SendLine {
  /** Sends what it can of a stream's queue: at once when no other stream waits, else in turn
   * with them. True when its queue emptied. */
  serve(s: MuxStream): boolean;
  /** Puts a stream in line, or takes it out. */
  wait(s: MuxStream, waiting: boolean): void;
  /** Serves the streams in line while the connection has space (it drained, or the pacer freed some). */
  flushAll(): void;
  remove(s: MuxStream): void;
  /** Some stream waits for space. */
  readonly waiting: boolean;
}

export function createSendLine(hasSpace: () => boolean): SendLine {
  const ready = new Set<MuxStream>();

  /** One chunk each per round. A stream served goes to the back of the line, so the next round
   * (or the next call, when space ran out mid-round) begins with those not served yet. */
  function flushAll() {
    while (ready.size > 0 && hasSpace()) {
      let sent = false;
      for (const s of [...ready]) {
        const before = s.queued;
        s.flush(1);
        if (s.queued < before) {
          sent = true;
          if (ready.delete(s)) ready.add(s);
        }
        if (!hasSpace()) return;
      }
      if (!sent) return; // every waiting stream is out of credit
    }
  }

  return {
    serve(s) {
      if (ready.size === 0 || (ready.size === 1 && ready.has(s))) return s.flush();
      ready.add(s);
      flushAll();
      return s.queued === 0;
    },
    wait(s, waiting) {
      if (waiting) ready.add(s);
      else ready.delete(s);
    },
    flushAll,
    remove: (s) => void ready.delete(s),
    get waiting() {
      return ready.size > 0;
    },
  };
}

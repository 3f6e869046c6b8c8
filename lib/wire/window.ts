// A stream's receive window, which grows to what the path carries (DESIGN.md, Long links).
//
// The receiver decides: the window is what it lets the peer send beyond what its sink has
// taken, announced by the window frames it sends. It starts at INITIAL_WINDOW, the size every
// peer assumes at open, and doubles while the sink takes a whole window within GROW_WITHIN_RTTS
// round trips (the path's, the smallest the connection's pings saw), judged over at least
// EPOCH_MS: then the sender was held back by the window, not by the path or the sink. It
// settles at about twice what the stream carries in a round trip, so credit sent a quarter of
// a window early still arrives before the sender runs out; it never grows for a stream that
// does not use it, nor past MAX_STREAM_WINDOW. What growth adds counts against a budget per
// connection and one per process (an edge, a connector), so the memory every peer may fill
// at once stays bounded; a stream whose sink took nothing for IDLE_MS shrinks back and gives
// its share back once the credit it had granted is used up.
//
// A peer needs nothing new for this: window frames add credit, and an older sender honours
// any amount of it; an older receiver simply never grows. As quic-go's flow controller does,
// from the round trip its own pings measure.
import { INITIAL_WINDOW } from "./frame.ts";

/** The most one stream may have granted: 32 MiB carries 2.5 Gbit/s over a 100 ms round trip. */
export const MAX_STREAM_WINDOW = 32 * 1024 * 1024;
/** What the windows of one connection may grow by, together: a few fast streams at once. */
export const CONNECTION_GROWTH = 64 * 1024 * 1024;
/** What the windows of one process may grow by, over all its connections. */
export const PROCESS_GROWTH = 256 * 1024 * 1024;
/** A window doubles when the sink took a whole one within this many round trips (quic-go: 4). */
export const GROW_WITHIN_RTTS = 2;
/** A window is judged over at least this long (and two round trips): the sink's rate over it
 * is what it keeps up, not a burst into a socket buffer that then fills. */
export const EPOCH_MS = 100;
/** A stream whose sink took nothing for this long goes back to INITIAL_WINDOW. */
export const IDLE_MS = 2_000;

/** Bytes that windows may grow by, shared; a child draws on its parent too. */
export interface WindowBudget {
  take(n: number): boolean;
  give(n: number): void;
  readonly used: number;
}

export function createBudget(limit: number, parent?: WindowBudget): WindowBudget {
  let used = 0;
  return {
    take(n) {
      if (n <= 0) return true;
      if (used + n > limit || (parent && !parent.take(n))) return false;
      used += n;
      return true;
    },
    give(n) {
      if (n <= 0) return;
      used -= n;
      parent?.give(n);
    },
    get used() {
      return used;
    },
  };
}

/** The whole process's budget: every connection's draws on it. */
export const processBudget = createBudget(PROCESS_GROWTH);

export interface WindowOptions {
  budget: WindowBudget;
  /** The connection's round trip (the smallest its pings measured: the path's, without queues), if one was. */
  rtt(): number | undefined;
  now?(): number;
  initial?: number;
}

export interface ReceiveWindow {
  /** What the peer may have outstanding now. */
  readonly size: number;
  /** Where it started. */
  readonly initial: number;
  /** Bytes arrived from the peer; false when it sent past what it was given. */
  arrived(n: number): boolean;
  /** The sink took `n` bytes; returns the credit to send the peer now (0: none yet). */
  consumed(n: number): number;
  /** Shrinks the window if the sink took nothing for IDLE_MS; true when it is back at its start. */
  shrinkIfIdle(): boolean;
  /** The stream is over: its share of the budget goes back. */
  release(): void;
}

export function createReceiveWindow(o: WindowOptions): ReceiveWindow {
  const now = o.now ?? (() => performance.now());
  const initial = o.initial ?? INITIAL_WINDOW;
  let size = initial;
  let limit = initial; // the peer may send up to this offset
  let arrivedTotal = 0;
  let read = 0; // bytes the sink took
  let charged = 0; // what this window holds of the budget
  // an epoch is a stretch of reading, timed from its first read, by which the window is judged
  let epochStart: number | undefined;
  let epochRead = 0;
  let lastRead = now();

  /** What the peer may still fill: the larger of the window and the credit already granted. */
  const settle = () => {
    const holds = Math.max(0, Math.max(size, limit - read) - initial);
    if (holds >= charged) return;
    o.budget.give(charged - holds);
    charged = holds;
  };

  const maybeGrow = (t: number) => {
    const inEpoch = read - epochRead;
    const rtt = o.rtt();
    // too little to tell: the epoch goes on
    if (epochStart === undefined || inEpoch < size / 2 || t - epochStart < Math.max(EPOCH_MS, 2 * (rtt ?? 0))) return;
    // the time the sink took per window, against the round trip
    if (rtt !== undefined && rtt > 0 && size < MAX_STREAM_WINDOW && ((t - epochStart) * size) / inEpoch < GROW_WITHIN_RTTS * rtt) {
      const next = Math.min(MAX_STREAM_WINDOW, size * 2);
      const more = next - initial - charged;
      if (o.budget.take(more)) {
        charged += Math.max(0, more);
        size = next;
      }
    }
    epochStart = t;
    epochRead = read;
  };

  return {
    get size() {
      return size;
    },
    initial,
    arrived(n) {
      arrivedTotal += n;
      return arrivedTotal <= limit;
    },
    consumed(n) {
      const t = now();
      read += n;
      // a sender held back by the window is never silent for several round trips: after a
      // pause the time is judged afresh, from the read that ended it
      const rtt = o.rtt();
      if (epochStart === undefined || t - lastRead > 4 * (rtt ?? IDLE_MS)) {
        epochStart = t;
        epochRead = read;
      }
      lastRead = t;
      // credit goes once a quarter of the window was taken: one frame per quarter keeps the
      // control traffic small, and three quarters still on their way keep the sender busy
      if (limit - read > (size * 3) / 4) {
        settle();
        return 0;
      }
      maybeGrow(t);
      const credit = read + size - limit;
      limit = read + size;
      settle();
      return credit;
    },
    shrinkIfIdle() {
      if (size > initial && now() - lastRead >= IDLE_MS) {
        size = initial;
        epochStart = undefined;
        settle();
      }
      return size === initial && charged === 0;
    },
    release() {
      o.budget.give(charged);
      charged = 0;
    },
  };
}

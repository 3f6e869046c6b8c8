// A stream's receive window, which grows to what the path carries (DESIGN.md, Long links).
//
// The receiver decides: the window is what it lets the peer send beyond what its sink has
// taken, announced by the window frames it sends. It starts at INITIAL_WINDOW, the size every
// peer assumes at open, and doubles while the sink takes a whole window within GROW_WITHIN_RTTS
// round trips (the path's, the smallest the connection's pings saw), judged over at least
// EPOCH_MS, and no more than a quarter window waited for the sink meanwhile: then the sender
// was held back by the window, not by the path or the sink. It
// settles at two to four times what the stream carries in a round trip, so credit sent a
// quarter of a window early still arrives before the sender runs out; it never grows for a stream that
// does not use it, nor past MAX_STREAM_WINDOW. What growth adds counts against a budget per
// connection and one per process (an edge, a connector), so the memory every peer may fill
// at once stays bounded; a stream whose sink took nothing for IDLE_MS shrinks back and gives
// its share back once the credit it had granted is used up. A stream held back by its window
// grows at once to the largest window a busy stream of the same connection had in the last
// LEARNED_MS, if the budget has that much, instead of doubling round after round: the next
// copy over a connector's connection needs what the last one did.
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
/** A window doubles when the sink took a whole one within this many of the path's smallest
 * round trips (quic-go: 4 of its smoothed one). A window-limited sender's real cycle is that
 * round trip plus the queues and the time two busy event loops take, often twice it. */
export const GROW_WITHIN_RTTS = 4;
/** A window the sink took within this many round trips held the stream back alone (its
 * sender waited for credit every round trip): it grows fourfold, not twofold. */
export const QUICK_RTTS = 1.5;
/** A window is judged over at least this long (and two round trips): the sink's rate over it
 * is what it keeps up, not a burst into a socket buffer that then fills. */
export const EPOCH_MS = 100;
/** A stream whose sink took nothing for this long goes back to INITIAL_WINDOW. */
export const IDLE_MS = 2_000;
/** What a connection's streams needed is remembered this long: the next copy over the same
 * path needs the same. */
export const LEARNED_MS = 60_000;

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
  /** The largest window a busy stream of the connection had lately, and when: a stream that
   * proves held back by its window grows to it at once, not by doublings (shared, written by
   * the windows). */
  learned?: { size: number; at: number };
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

/** `o` may be shared by every window of a connection. */
export const createReceiveWindow = (o: WindowOptions): ReceiveWindow => new Window(o);

// A class, not a closure, for the memory of 10,000 idle streams (lib/wire/stream.ts).
class Window implements ReceiveWindow {
  readonly initial: number;
  size: number;
  private limit: number; // the peer may send up to this offset
  private arrivedTotal = 0;
  private read = 0; // bytes the sink took
  private charged = 0; // what this window holds of the budget
  // an epoch is a stretch of reading, timed from its first read, by which the window is judged
  private epochStart: number | undefined;
  private epochRead = 0;
  /** The most that waited for the sink during the epoch (arrived, not yet taken). */
  private epochBacklog = 0;
  private lastRead: number;

  constructor(private readonly o: WindowOptions) {
    this.initial = this.size = this.limit = o.initial ?? INITIAL_WINDOW;
    this.lastRead = this.now();
  }

  private now() {
    return this.o.now ? this.o.now() : performance.now();
  }

  arrived(n: number): boolean {
    this.arrivedTotal += n;
    return this.arrivedTotal <= this.limit;
  }

  consumed(n: number): number {
    const t = this.now();
    this.read += n;
    // a sender held back by the window is never silent for several round trips: after a
    // pause the time is judged afresh, from the read that ended it
    if (this.epochStart === undefined || t - this.lastRead > 4 * (this.o.rtt() ?? IDLE_MS)) this.newEpoch(t);
    this.lastRead = t;
    this.epochBacklog = Math.max(this.epochBacklog, this.arrivedTotal - this.read);
    // credit goes once a quarter of the window was taken: one frame per quarter keeps the
    // control traffic small, and three quarters still on their way keep the sender busy
    if (this.limit - this.read > (this.size * 3) / 4) {
      this.settle();
      return 0;
    }
    this.maybeGrow(t);
    const credit = this.read + this.size - this.limit;
    this.limit = this.read + this.size;
    this.settle();
    return credit;
  }

  shrinkIfIdle(): boolean {
    if (this.size > this.initial && this.now() - this.lastRead >= IDLE_MS) {
      this.size = this.initial;
      this.epochStart = undefined;
      this.settle();
    }
    return this.size === this.initial && this.charged === 0;
  }

  release() {
    this.o.budget.give(this.charged);
    this.charged = 0;
  }

  /** What the peer may still fill: the larger of the window and the credit already granted. */
  private settle() {
    const holds = Math.max(0, Math.max(this.size, this.limit - this.read) - this.initial);
    if (holds >= this.charged) return;
    this.o.budget.give(this.charged - holds);
    this.charged = holds;
  }

  private maybeGrow(t: number) {
    const inEpoch = this.read - this.epochRead;
    const rtt = this.o.rtt();
    // too little to tell: the epoch goes on
    if (this.epochStart === undefined || inEpoch < this.size / 2 || t - this.epochStart < Math.max(EPOCH_MS, 2 * (rtt ?? 0))) return;
    // the time the sink took per window, against the round trip; and bytes that waited for the
    // sink say it, not the window, held the stream back (a bigger window would only hold more)
    const perWindow = ((t - this.epochStart) * this.size) / inEpoch;
    const windowBound = perWindow < GROW_WITHIN_RTTS * (rtt ?? 0) && this.epochBacklog <= this.size / 4;
    const learned = this.o.learned && t - this.o.learned.at < LEARNED_MS ? this.o.learned.size : 0;
    // to what the connection's streams needed lately, or else (or if the budget has not that
    // much left) four or two times the window
    if (rtt !== undefined && rtt > 0 && this.size < MAX_STREAM_WINDOW && windowBound) {
      const factor = perWindow < QUICK_RTTS * rtt ? 4 : 2;
      for (const next of new Set([Math.max(this.size * factor, learned), this.size * factor, this.size * 2])) if (this.growTo(Math.min(MAX_STREAM_WINDOW, next))) break;
    }
    if (this.o.learned && this.size >= learned) [this.o.learned.size, this.o.learned.at] = [this.size, t];
    this.newEpoch(t);
  }

  private growTo(next: number): boolean {
    const more = next - this.initial - this.charged;
    if (!this.o.budget.take(more)) return false;
    this.charged += Math.max(0, more);
    this.size = next;
    return true;
  }

  private newEpoch(t: number) {
    this.epochStart = t;
    this.epochRead = this.read;
    this.epochBacklog = 0;
  }
}

// How many data bytes one connection may have on its way to the peer: sent, and not yet read
// off the connection by it. Stream windows alone let a bulk copy park megabytes in socket
// buffers, where a keystroke of another stream waits behind all of them. With an allowance
// near the path's bandwidth-delay product the bytes wait in the sender's stream queues
// instead, which are served round-robin, so the keystroke goes next.
//
// The peer reports what it read (received frames). While the pipe is not full, each byte
// delivered lets two go (TCP's slow start: the allowance doubles every round trip), and never
// less than twice the best recent delivery rate times the smallest round trip seen (from
// pings). Once delivery grew by less than a quarter for PLATEAU_ROUNDS round trips in which
// the allowance held a sender back, the pipe is full (BBR's full-pipe test; a round held back
// by the streams' windows instead, as while they grow, says nothing about the pipe, and
// counting it let a 2 MiB window's rate pass for the path's). Then the allowance is the rate
// times the round trip plus fullQueueMs: what it adds to the pipe waits about that long in
// some queue ahead of a keystroke. On loopback that is FLOOR; across a continent what the
// distance needs. The round trip is the smallest of the connection's life, not a
// recent one: pings queue behind our own bytes, so during a long copy every sample says
// base + queue, and a recent minimum would let the allowance (and the queue) grow again each
// time the quiet samples aged out.
//
// The rate samples lag a slow start that doubles every round trip: by the time three rounds
// show no growth, up to three pipes' worth has queued ahead of every keystroke. So the time
// each byte took to be read is watched too (from when the frame the peer's report ends at was
// sent): once every byte read for half a round trip took QUEUE_EXIT_MS more than the quickest
// ever, a queue is forming (CUBIC's HyStart delay test). Slow start then goes back to a quarter
// over the pipe at the best rate seen, which drains the queue, and grows by a quarter a round
// trip from there, until the full-pipe test says full. It does not end slow start outright:
// on a busy machine a peer's late reports look like a queue as often as a queue does, and
// ending there left the copy at a fraction of the path (one stream down at 0.66-0.70x over
// 100 ms, against 0.81 with rate samples alone).
//
// A connection remembers its path: after a pause the allowance starts at the pipe of the last
// rate samples in which it held a sender back (their median, for PATH_MEMORY_MS), not at the
// floor, and grows from there as after a queue; nor does it go below that pipe meanwhile. A
// connector's connection carries one copy after another over the same path; slow start anew
// for each cost the next copy its first few round trips. A sample of a source that did not
// fill the allowance (a typist) is not one of the path.

/** Never less than this may be in flight: what keeps a busy 2-core machine's pipeline full. */
export const PACER_FLOOR = 512 * 1024;
/** Nor more than this: the sum of a few stream windows. */
export const PACER_CEILING = 64 * 1024 * 1024;
/** The receiver reports once it has read this much since its last report. */
export const REPORT_EVERY = 128 * 1024;
/** Delivery rate is sampled over at least this long. */
const SAMPLE_MS = 50;
/** Rate samples are remembered this long: the allowance is the best of them. */
const RATE_MEMORY_MS = 1_000;
/** What the path carried is remembered this long: after a pause (no rate sample left), the
 * allowance starts at that pipe and grows as after a queue, not from the floor. A connector's
 * connection outlives its sessions, and the next copy finds the same path. */
export const PATH_MEMORY_MS = 60_000;
/** The path is what this many of the last samples say, their median. */
const PATH_SAMPLES = 7;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** The gain while delivery still grows. */
const STARTUP_GAIN = 2;
/** Once the pipe is full, the allowance is the rate times the round trip plus this long: what
 * it adds to the pipe waits at most about this long in some queue, ahead of a keystroke (the
 * echo beside a copy, issue 27: at most the round trip and 20 ms). It covers the report
 * granularity: 128 KiB is 1 ms at 1 Gbit/s. */
export const FULL_QUEUE_MS = 4;
/** And on a long path a quarter of the round trip more, up to this long: under a copy a byte
 * takes 3-6 ms longer to be read than the quickest (both peers' busy event loops), and with
 * 4 ms alone the link stood idle a tenth of the time over a 40 ms round trip
 * (docs/bench/long-links.md, after-12). On loopback the floor or the CPU is the limit, and
 * more would only queue ahead of a keystroke (the echo under a copy doubled). */
export const LOADED_MS = 4;
/** In flight past this many times rate × round trip, the rest is queued: the pipe is full. */
const QUEUED = 1.25;
/** Round trips without a quarter more delivery after which the pipe counts as full. */
const PLATEAU_ROUNDS = 3;
/** A byte that took this much longer to be read than the quickest (or an eighth of the round
 * trip, if more) waited in a queue. Twice the most fullQueueMs keeps, so that the queue the
 * allowance itself keeps does not count. */
export const QUEUE_EXIT_MS = 2 * (FULL_QUEUE_MS + LOADED_MS);
/** Slow start that saw a queue goes back to this many times what the pipe holds. */
const DRAIN_TO = 1.25;
/** Once slow start saw a queue, each byte delivered lets this much more go: a quarter more each
 * round trip, so a busy peer's late reports slow the growth, and a real queue does not come back
 * at a whole pipe's worth a round trip. */
const AFTER_QUEUE_GAIN = 0.25;
/** A queue is one that every byte read waited in for this long, or half a round trip if longer. */
const QUEUE_RUN_MS = 10;

/** What the allowance keeps beyond the pipe once it is full, in ms of the rate. */
export const fullQueueMs = (minRtt: number) => FULL_QUEUE_MS + Math.min(LOADED_MS, minRtt / 4);

export interface Pacer {
  /** Whether another data frame may go now. */
  hasSpace(): boolean;
  sent(bytes: number): void;
  /** The peer read this many more bytes. */
  delivered(bytes: number): void;
  /** A round trip measured by a ping. */
  rtt(ms: number): void;
  readonly allowance: number;
}

/** The largest of the samples younger than `memoryMs`, if any. */
function windowedMax(memoryMs: number) {
  let samples: { v: number; t: number }[] = [];
  return {
    add(v: number, t: number) {
      // a sample beaten by a newer one can never be the answer again
      samples = samples.filter((s) => t - s.t < memoryMs && s.v > v);
      samples.push({ v, t });
    },
    best(t: number): number | undefined {
      while (samples.length > 0 && t - samples[0]!.t >= memoryMs) samples.shift();
      return samples[0]?.v;
    },
  };
}

/**
 * How long the bytes take to be read, from when the frame that each report of the peer ends at
 * was sent. `delivered` returns the rate delivered at while every byte read waited in a queue
 * (QUEUE_EXIT_MS more than the quickest ever), once that has lasted half a round trip: one
 * late byte is a busy peer, a run of them a queue.
 */
function queueWatch() {
  // the total sent after each frame and when it went, oldest first from `head`
  let marks: { at: number; t: number }[] = [];
  let head = 0;
  let sentTotal = 0;
  let deliveredTotal = 0;
  let quickest = Infinity;
  // since when (and from which delivered total) every byte read waited in a queue
  let waiting: { t: number; total: number } | undefined;
  return {
    sent(bytes: number, t: number) {
      sentTotal += bytes;
      // frames sent within a millisecond share a mark: a typist's many small frames cost a few
      const last = marks[marks.length - 1];
      if (last && head < marks.length && t - last.t < 1) [last.at, last.t] = [sentTotal, t];
      else marks.push({ at: sentTotal, t });
    },
    delivered(bytes: number, t: number, minRtt: number): number | undefined {
      deliveredTotal += bytes;
      let m: { at: number; t: number } | undefined;
      while (head < marks.length && marks[head]!.at <= deliveredTotal) m = marks[head++];
      if (head > 4096) [marks, head] = [marks.slice(head), 0];
      if (!m || minRtt === Infinity) return;
      const took = t - m.t;
      quickest = Math.min(quickest, took);
      if (took - quickest <= Math.max(QUEUE_EXIT_MS, minRtt / 8)) return void (waiting = undefined);
      if (!waiting) return void (waiting = { t, total: deliveredTotal });
      if (t - waiting.t < Math.max(QUEUE_RUN_MS, minRtt / 2)) return;
      const r = (deliveredTotal - waiting.total) / (t - waiting.t);
      waiting = undefined;
      return r;
    },
  };
}

export function createPacer(now = () => performance.now()): Pacer {
  let inFlight = 0;
  let allowance = PACER_FLOOR;
  const rate = windowedMax(RATE_MEMORY_MS); // bytes per ms
  let minRtt = Infinity;
  let sampleStart = now();
  let sampleBytes = 0;
  // the full-pipe test: the best rate at the start of the plateau, when it began, its rounds
  let plateau = { rate: 0, since: 0, rounds: 0 };
  let full = false;
  // slow start saw a queue since the last pause: it grows by a quarter a round trip from then on
  let queueSeen = false;
  let startCap = PACER_FLOOR;
  let pipe = 0; // rate × round trip: what fills the pipe
  // the rates of the last PATH_SAMPLES samples in which the allowance held a sender back, their
  // median, and when the last was taken
  let path: { rates: number[]; rate: number; t: number } | undefined;
  let sampleLimited = false;
  let sampleFromIdle = true;
  const queue = queueWatch();

  // whether the allowance held a sender back during this round, or more than the pipe holds
  // was on the way already (the rest queued somewhere): a round in which neither happened
  // (the streams' windows, or the sources, set the pace) says nothing about the pipe
  let limited = false;
  const fullPipe = (r: number, t: number) => {
    if (r >= plateau.rate * 1.25) plateau = { rate: r, since: t, rounds: 0 };
    else if (t - plateau.since >= Math.max(SAMPLE_MS, minRtt)) plateau = { rate: plateau.rate, since: t, rounds: plateau.rounds + (limited ? 1 : 0) };
    else return;
    limited = false;
    full = plateau.rounds >= PLATEAU_ROUNDS;
  };

  /** The pipe the last samples held back by the allowance saw, if recent: a copy that starts
   * after a pause finds the path as the last one left it. A source too slow to fill it (a
   * typist, a request) says nothing of it; their median, not the last one, so that a peer's
   * stall (a sample of a tenth of the rate) or the burst after it does not. */
  const lastPipe = (t: number) => (path && t - path.t < PATH_MEMORY_MS && minRtt < Infinity ? path.rate * minRtt : 0);
  /** The allowance is never less than the floor, nor than that pipe. */
  const floorOf = (had: number) => Math.min(PACER_CEILING, Math.max(PACER_FLOOR, had));

  const update = (t: number) => {
    const r = rate.best(t);
    const had = lastPipe(t);
    const least = floorOf(had);
    // slow start may take the allowance to twice what the rate (or the last pipe) says, never
    // further: on loopback (no round trip to speak of) it stays at the floor
    startCap = Math.min(PACER_CEILING, Math.max(PACER_FLOOR, 2 * STARTUP_GAIN * Math.max(had, r === undefined ? 0 : r * minRtt)));
    if (r === undefined || minRtt === Infinity) {
      // after a pause the path is probed afresh, from the pipe it had if that is recent, and
      // growing from there as after a queue: that pipe is what the path carried
      plateau = { rate: 0, since: t, rounds: 0 };
      full = false;
      queueSeen = had > 0;
      pipe = had;
      allowance = least;
      return;
    }
    pipe = r * minRtt;
    const want = full ? r * (minRtt + fullQueueMs(minRtt)) : Math.min(startCap, Math.max(allowance, STARTUP_GAIN * pipe));
    allowance = Math.min(PACER_CEILING, Math.max(least, want));
  };

  return {
    hasSpace: () => inFlight < allowance,
    sent(bytes) {
      // a rate sample covers only time with bytes on the way, not a pause before them
      if (inFlight === 0) {
        sampleStart = now();
        sampleBytes = 0;
        sampleLimited = false;
        sampleFromIdle = true;
      }
      inFlight += bytes;
      queue.sent(bytes, now());
      if (inFlight >= allowance) sampleLimited = true;
      if (inFlight >= allowance || (pipe > 0 && inFlight >= QUEUED * pipe)) limited = true;
    },
    delivered(bytes) {
      const t = now();
      inFlight = Math.max(0, inFlight - bytes);
      const r = queue.delivered(bytes, t, minRtt);
      if (r !== undefined && !full) {
        // a queue: back to a quarter over the pipe, which drains it, and slower growth from there
        rate.add(r, t);
        allowance = Math.min(allowance, Math.max(floorOf(lastPipe(t)), DRAIN_TO * rate.best(t)! * minRtt));
        limited = true;
        queueSeen = true;
      }
      // slow start, as TCP's: while the pipe is not full, each byte delivered lets two go, so
      // the allowance doubles every round trip between rate samples (until a queue was seen)
      if (!full) allowance = Math.max(allowance, Math.min(startCap, allowance + (queueSeen ? AFTER_QUEUE_GAIN : 1) * bytes));
      sampleBytes += bytes;
      const elapsed = t - sampleStart;
      // over two round trips at least: a busy peer's reports come in bursts, and the best of
      // short samples would be a burst's rate, its excess queued ahead of every keystroke
      if (elapsed < Math.max(SAMPLE_MS, 2 * minRtt)) return;
      rate.add(sampleBytes / elapsed, t);
      // one that began from idle holds a round trip in which nothing could be delivered yet
      if (sampleLimited && !sampleFromIdle) {
        const rates = [...(path?.rates ?? []), sampleBytes / elapsed].slice(-PATH_SAMPLES);
        path = { rates, rate: median(rates), t };
      }
      sampleStart = t;
      sampleBytes = 0;
      sampleLimited = false;
      sampleFromIdle = false;
      fullPipe(rate.best(t)!, t);
      update(t);
    },
    rtt(ms) {
      if (!(ms >= 0 && ms < 60_000)) return;
      minRtt = Math.min(minRtt, ms);
      update(now());
    },
    get allowance() {
      return allowance;
    },
  };
}

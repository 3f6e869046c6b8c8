// The connector's supervisor on its own: which target each attempt goes to, how long it waits
// between attempts, and when it gives up. The dial is a script of how each connection ended
// (the real one is lib/tunnel/connection.ts, covered by tunnel-recovery.test.ts); the wait
// between attempts records its delay and returns at once, so no test waits for a backoff.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LogLevels } from "consola";
import { EXIT, type WicketError } from "../lib/cli/exit.ts";
import { log } from "../lib/cli/log.ts";
import type { EdgeTarget } from "../lib/tunnel/edges.ts";
import type { Ended } from "../lib/tunnel/room.ts";
import { backoffDelay, MIN_STAY_MS, supervise, type SupervisorOptions } from "../lib/tunnel/supervisor.ts";
import { Close } from "../lib/wire/close.ts";

// the retry lines are the supervisor's, not the test's
const level = log.level;
beforeAll(() => void (log.level = LogLevels.silent));
afterAll(() => void (log.level = level));

const A: EdgeTarget = { label: "edge-a", wsUrl: "wss://a.invalid/" };
const B: EdgeTarget = { label: "edge-b", wsUrl: "wss://b.invalid/" };

const failed = (reason = "Failed to connect"): Ended => ({ registered: false, registeredAt: 0, moved: false, code: 1006, reason });
const lost = (stayedMs: number): Ended => ({ registered: true, registeredAt: Date.now() - stayedMs, moved: false, code: 1006, reason: "connection closed" });
const moved = (stayedMs: number): Ended => ({ registered: true, registeredAt: Date.now() - stayedMs, moved: true, code: 1000, reason: "node is shutting down" });
const closedWith = (code: number, reason: string): Ended => ({ registered: false, registeredAt: 0, moved: false, code, reason });

/** A supervisor whose connection `i` ends as `script(i, n)` says on its n-th attempt (0-based);
 * `stopAfterWaits` fires the signal in that many-th wait, as SIGTERM would. */
function scripted(script: (index: number, attempt: number) => Ended, o: Partial<SupervisorOptions> & { stopAfterWaits?: number } = {}) {
  const stop = new AbortController();
  const dials: { index: number; target: string }[] = [];
  const waits: number[] = [];
  const gaveUp: WicketError[] = [];
  let reconnects = 0;
  const attempts = new Map<number, number>();
  const options: SupervisorOptions = {
    connections: 1,
    retries: Infinity,
    backoff: { baseMs: 100, capMs: 1_000 },
    signal: stop.signal,
    targets: async () => [A, B],
    async dial(index, target) {
      dials.push({ index, target: target.label });
      const n = attempts.get(index) ?? 0;
      attempts.set(index, n + 1);
      return script(index, n);
    },
    giveUp(error) {
      gaveUp.push(error);
      stop.abort();
    },
    reconnecting: () => void reconnects++,
    async wait(ms) {
      waits.push(ms);
      if (waits.length === o.stopAfterWaits) stop.abort();
    },
    random: () => 1, // the top of each full-jitter range, so the bounds show
    ...o,
  };
  return { done: supervise(options), dials, waits, gaveUp, reconnects: () => reconnects };
}

describe("backoff", () => {
  test("full jitter: anywhere from 0 to base * 2^attempt, never above the cap", () => {
    expect([0, 1, 2, 3, 6, 7].map((n) => backoffDelay(n, 500, 30_000, () => 1))).toEqual([500, 1_000, 2_000, 4_000, 30_000, 30_000]);
    expect(backoffDelay(3, 500, 30_000, () => 0)).toBe(0);
    expect(backoffDelay(3, 500, 30_000, () => 0.25)).toBe(1_000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(4, 500, 30_000);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(8_000);
    }
  });

  test("failed attempts wait longer each time and move to the next target; a connection that registered starts over", async () => {
    const script = [failed(), failed(), failed(), lost(60_000), failed()];
    const s = scripted((_i, n) => script[n]!, { stopAfterWaits: 5 });
    await s.done;
    // 1, 2, 3 failures in a row; the registration resets the count to 0; then 1 again
    expect(s.waits).toEqual([200, 400, 800, 100, 200]);
    // a failure moves to the other target; a lost registered connection retries where it was
    expect(s.dials.map((d) => d.target)).toEqual(["edge-a", "edge-b", "edge-a", "edge-b", "edge-b"]);
    expect(s.reconnects()).toBe(4);
    expect(s.gaveUp).toEqual([]);
  });

  test("connection i starts at target i, so connections spread over the targets", async () => {
    const s = scripted(() => failed(), { connections: 3, stopAfterWaits: 3 });
    await s.done;
    const firsts = [0, 1, 2].map((i) => s.dials.find((d) => d.index === i)?.target);
    expect(firsts).toEqual(["edge-a", "edge-b", "edge-a"]);
  });

  test("the targets are looked up again before every attempt (a changed DNS record is followed)", async () => {
    let lookups = 0;
    const s = scripted(() => failed(), { stopAfterWaits: 2, targets: async () => (++lookups === 1 ? [A] : [B]) });
    await s.done;
    expect(s.dials.map((d) => d.target)).toEqual(["edge-a", "edge-b"]);
    expect(lookups).toBe(2);
  });
});

describe("go-away", () => {
  test("a connection that moved after a while reconnects at once, on the next target, with no backoff", async () => {
    const script = [moved(60_000), failed()];
    const s = scripted((_i, n) => script[n]!, { stopAfterWaits: 1 });
    await s.done;
    expect(s.dials.map((d) => d.target)).toEqual(["edge-a", "edge-b"]);
    expect(s.waits).toEqual([200]); // only after the failure: the move itself waited for nothing
  });

  test(`a connection that moved within ${MIN_STAY_MS} ms of registering counts as a failure, so a go-away loop cannot spin`, async () => {
    const s = scripted(() => moved(0), { stopAfterWaits: 3 });
    await s.done;
    expect(s.waits).toEqual([200, 400, 800]);
  });
});

describe("giving up", () => {
  test("a refused credential stops every connection at once with 77, and nothing is retried", async () => {
    const s = scripted((i) => (i === 0 ? closedWith(Close.unauthenticated, "this connector's credential is revoked") : failed()), { connections: 2 });
    await s.done;
    expect(s.gaveUp.map((e) => e.exitCode)).toEqual([EXIT.denied]);
    expect(s.gaveUp[0]!.message).toBe("the edge refused this connector's credentials: this connector's credential is revoked");
    expect(s.dials.filter((d) => d.index === 0)).toHaveLength(1);
    // the other connection's first attempt ended after the signal: it does not try again
    expect(s.dials.filter((d) => d.index === 1)).toHaveLength(1);
    expect(s.waits).toEqual([]);
  });

  test("a refused connector is 77 and a wire version the edge does not speak is 78", async () => {
    const denied = scripted(() => closedWith(Close.denied, "hostname ssh.other.test is routed to another tunnel"));
    const version = scripted(() => closedWith(Close.versionMismatch, "the edge speaks wire version 2; upgrade this connector"));
    await Promise.all([denied.done, version.done]);
    expect(denied.gaveUp.map((e) => [e.exitCode, e.message])).toEqual([[EXIT.denied, "the edge refused this connector: hostname ssh.other.test is routed to another tunnel"]]);
    expect(version.gaveUp.map((e) => [e.exitCode, e.message])).toEqual([[EXIT.config, "the edge speaks wire version 2; upgrade this connector"]]);
  });

  test("--retries 2: three failed attempts, two waits, then 69 with a line that says so", async () => {
    const s = scripted(() => failed("ECONNREFUSED"), { retries: 2 });
    await s.done;
    expect(s.dials).toHaveLength(3);
    expect(s.waits).toEqual([200, 400]);
    expect(s.gaveUp.map((e) => e.exitCode)).toEqual([EXIT.unreachable]);
    expect(s.gaveUp[0]!.message).toContain("connection 0 to edge-a failed (ECONNREFUSED) and that was the last of 2 retries (--retries)");
  });

  test("a connection that registers in between never runs out of --retries", async () => {
    const s = scripted((_i, n) => (n % 2 === 0 ? failed() : lost(60_000)), { retries: 1, stopAfterWaits: 6 });
    await s.done;
    expect(s.gaveUp).toEqual([]);
    expect(s.dials).toHaveLength(6);
  });
});

describe("stopping", () => {
  test("once the signal fires no connection dials again, and supervise resolves when each has ended", async () => {
    const stop = new AbortController();
    const open: PromiseWithResolvers<Ended>[] = [];
    let dials = 0;
    const done = supervise({
      connections: 4,
      retries: Infinity,
      backoff: { baseMs: 100, capMs: 1_000 },
      signal: stop.signal,
      targets: async () => [A],
      dial() {
        dials++;
        const p = Promise.withResolvers<Ended>();
        open.push(p);
        return p.promise;
      },
      giveUp: () => expect.unreachable("nothing failed"),
      wait: async () => expect.unreachable("nothing waits after the signal"),
    });
    while (open.length < 4) await new Promise((r) => setImmediate(r));
    stop.abort();
    for (const p of open) p.resolve(lost(60_000));
    await done;
    expect(dials).toBe(4);
  });
});

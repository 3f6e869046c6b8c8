// lib/async.ts: the one abortable sleep and the one wait-until-idle that the connector, the
// edge and the CLI share.
import { describe, expect, test } from "bun:test";
import { aborted, createChanges, sleep, waitUntilIdle } from "../lib/async.ts";

const settledYet = async (p: Promise<unknown>) => {
  let settled = false;
  void p.then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  return settled;
};

describe("sleep", () => {
  test("resolves true when its timer fires, set for the time asked (the timers are the test's: nothing waits)", async () => {
    const real = globalThis.setTimeout;
    const timers: { fire: () => void; ms: number }[] = [];
    globalThis.setTimeout = ((fire: () => void, ms: number) => (timers.push({ fire, ms }), real(() => {}, 0))) as unknown as typeof setTimeout;
    let slept: Promise<boolean>[];
    try {
      slept = [sleep(5_000), sleep(7_000, new AbortController().signal)];
    } finally {
      globalThis.setTimeout = real;
    }
    expect(timers.map((t) => t.ms)).toEqual([5_000, 7_000]);
    expect(await settledYet(slept[0]!)).toBe(false);
    for (const t of timers) t.fire();
    expect(await Promise.all(slept)).toEqual([true, true]);
  });

  test("resolves false as soon as the signal fires, long before the time", async () => {
    const stop = new AbortController();
    const slept = sleep(60_000, stop.signal);
    expect(await settledYet(slept)).toBe(false);
    stop.abort();
    expect(await slept).toBe(false);
  });

  test("a signal that already fired ends it at once", async () => {
    expect(await sleep(60_000, AbortSignal.abort())).toBe(false);
  });
});

describe("aborted", () => {
  test("resolves when the signal fires, or at once when it has", async () => {
    const stop = new AbortController();
    const p = aborted(stop.signal);
    expect(await settledYet(p)).toBe(false);
    stop.abort();
    await p;
    await aborted(stop.signal);
  });
});

describe("waitUntilIdle", () => {
  test("ends on the change that makes it idle, not at the deadline", async () => {
    const changes = createChanges();
    let live = 2;
    const idle = waitUntilIdle(() => live, changes, 60_000);
    live = 1;
    changes.notify();
    expect(await settledYet(idle)).toBe(false); // a change that leaves something live: waits on
    live = 0;
    changes.notify();
    expect(await settledYet(idle)).toBe(true); // no poll interval: the change itself ends the wait
    expect(await idle).toBe(true);
  });

  test("is true at once when nothing is live", async () => {
    expect(await waitUntilIdle(() => 0, createChanges(), 60_000)).toBe(true);
  });

  test("is false when the time is up with something still live", async () => {
    expect(await waitUntilIdle(() => 1, createChanges(), 5)).toBe(false);
  });

  test("notify wakes every waiter at once", async () => {
    const changes = createChanges();
    const woken = [changes.next(), changes.next()];
    changes.notify();
    await Promise.all(woken);
  });
});

// coalesced(): the one-at-a-time runner behind the ACME check, the store watcher and the
// cluster heartbeat. The case that matters is a call at the very end of a run: the ACME check
// once ran its timer step after the loop's last look at "again", so an application added just
// then was not ordered until the next timer, maybe an hour later (a two-node CI run waited
// for a certificate nobody ordered).
import { describe, expect, test } from "bun:test";
import { coalesced } from "../lib/edge/runtime/coalesce.ts";

describe("coalesced", () => {
  test("calls during a run make one more run, and every caller's promise waits for it", async () => {
    const gates: PromiseWithResolvers<void>[] = [];
    let started = Promise.withResolvers<void>();
    const run = coalesced(async () => {
      const g = Promise.withResolvers<void>();
      gates.push(g);
      started.resolve();
      await g.promise;
    });
    const first = run();
    await started.promise;
    started = Promise.withResolvers<void>();
    const during = [run(), run(), run()];
    expect(gates).toHaveLength(1);
    gates[0]!.resolve();
    await started.promise; // the one more run
    expect(gates).toHaveLength(2);
    let settled = false;
    void first.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false); // the second run is still going
    gates[1]!.resolve();
    await Promise.all([first, ...during]);
    expect(gates).toHaveLength(2);
  });

  test("a call at the very end of a run, after its last await, still makes one more run", async () => {
    let runs = 0;
    let run: () => Promise<void> = async () => {};
    run = coalesced(async () => {
      runs++;
      await Promise.resolve();
      if (runs === 1) void run(); // e.g. a change announced while the run set its timer
    });
    await run();
    expect(runs).toBe(2);
  });

  test("an error ends the loop and rejects; the next call starts afresh", async () => {
    let runs = 0;
    const run = coalesced(async () => {
      runs++;
      if (runs === 1) throw new Error("store down");
    });
    await expect(run()).rejects.toThrow("store down");
    await run();
    expect(runs).toBe(2);
  });
});

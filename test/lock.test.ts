// The lock file that makes twenty parallel ssh sign in once (lib/cli/lock.ts): holders take
// turns, and a lock left by a process that crashed is taken over at once.
import { expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { withLock } from "../lib/cli/lock.ts";
import { tempDir } from "./helpers/tmp.ts";

test("holders take turns: the second starts after the first has finished", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  const order: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const firstIn = new Promise<void>((r) => (entered = r));
  const first = withLock(path, async () => {
    order.push("first in");
    entered();
    await held;
    order.push("first out");
  });
  await firstIn;
  let waiting!: () => void;
  const secondWaits = new Promise<void>((r) => (waiting = r));
  const second = withLock(path, async () => void order.push("second in"), { onWait: () => waiting() });
  await secondWaits; // the second found the lock held and waits
  expect(order).toEqual(["first in"]);
  release();
  await Promise.all([first, second]);
  expect(order).toEqual(["first in", "first out", "second in"]);
  expect(existsSync(path)).toBe(false);
});

test("a lock whose process is gone is taken over at once", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  const dead = Bun.spawn(["true"]);
  await dead.exited;
  writeFileSync(path, String(dead.pid));
  const started = performance.now();
  expect(await withLock(path, async () => "mine", { timeoutMs: 5_000 })).toBe("mine");
  expect(performance.now() - started).toBeLessThan(2_000);
});

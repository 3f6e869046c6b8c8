// The lock file that makes twenty parallel ssh sign in once (lib/cli/lock.ts): holders take
// turns, and a lock left by a process that crashed is taken over at once.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
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

// Failed before: processes that all found the dead holder's pid each removed the lock and
// made their own, and one could remove another's fresh lock: two held it at once.
test("a dead holder's lock is taken over by one of many processes that find it at once", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  const log = dir.join("holders.log");
  const dead = Bun.spawn(["true"]);
  await dead.exited;
  writeFileSync(path, String(dead.pid));
  const lock = new URL("../lib/cli/lock.ts", import.meta.url).pathname;
  // each holds the lock a moment: the time a sign-in or a key takes, much shortened
  const script = `import { appendFileSync } from "node:fs"; import { withLock } from ${JSON.stringify(lock)};
    await withLock(${JSON.stringify(path)}, async () => { appendFileSync(${JSON.stringify(log)}, "in\\n"); await Bun.sleep(30); appendFileSync(${JSON.stringify(log)}, "out\\n"); }, { timeoutMs: 20_000 });`;
  const procs = Array.from({ length: 8 }, () => Bun.spawn([process.execPath, "-e", script], { stderr: "pipe" }));
  expect(await Promise.all(procs.map((p) => p.exited))).toEqual(Array(8).fill(0));
  const lines = readFileSync(log, "utf8").trim().split("\n");
  expect(lines).toEqual(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? "in" : "out")));
  expect(existsSync(path)).toBe(false);
}, 30_000);

test("a lock left empty (its holder died between creating and writing it) is taken over once it is old", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  writeFileSync(path, "");
  const old = new Date(Date.now() - 60_000);
  utimesSync(path, old, old);
  expect(await withLock(path, async () => "mine", { timeoutMs: 5_000 })).toBe("mine");
});

test("a lock that cannot be read is waited for up to the deadline, then named", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  mkdirSync(path); // exists, and reading it fails
  const err = await withLock(path, async () => "mine", { timeoutMs: 200 }).catch((e: Error) => e);
  expect((err as Error).message).toContain(`gave up waiting for the lock ${path}`);
});

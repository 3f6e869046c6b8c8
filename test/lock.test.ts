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
// made their own, and one could remove another's fresh lock: two held it at once. Later failed
// (one in many full-suite runs): a waiter that first saw a new holder's lock still empty never
// said "wait", so no holder was let go.
test("a dead holder's lock is taken over by one of many processes that find it at once", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  const dead = Bun.spawn(["true"]);
  await dead.exited;
  writeFileSync(path, String(dead.pid));
  const lock = new URL("../lib/cli/lock.ts", import.meta.url).pathname;
  // Each says "wait" when it finds the lock held, "in" once it holds it, and holds it until the
  // test says so: a holder is let go only once every other process has found its place (waiting,
  // or holding too, which is the failure), so two holders at once cannot miss each other.
  const script = `import { withLock } from ${JSON.stringify(lock)};
    await withLock(${JSON.stringify(path)}, async () => { console.log("in"); for await (const _ of console) break; }, { timeoutMs: 20_000, onWait: () => console.log("wait") });`;
  const procs = Array.from({ length: 8 }, () => Bun.spawn([process.execPath, "-e", script], { stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
  const state = procs.map((): "starting" | "wait" | "in" | "let go" | "done" => "starting");
  let most = 0;
  const letGo = () => {
    if (state.includes("starting")) return;
    procs.forEach((p, i) => {
      if (state[i] !== "in") return;
      state[i] = "let go";
      p.stdin.write("go\n");
      p.stdin.flush();
    });
  };
  await Promise.all(
    procs.map(async (p, i) => {
      for await (const chunk of p.stdout.pipeThrough(new TextDecoderStream())) {
        for (const line of chunk.split("\n").filter(Boolean)) {
          state[i] = line === "in" ? "in" : "wait";
          most = Math.max(most, state.filter((s) => s === "in").length);
        }
        letGo();
      }
      const code = await p.exited;
      // on failure, say where every process was
      if (code !== 0) throw new Error(`process ${i} exited ${code} (states ${state.join(", ")}): ${await new Response(p.stderr).text()}`);
      state[i] = "done";
      letGo();
    }),
  );
  expect(most).toBe(1);
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

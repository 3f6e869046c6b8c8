// The sign-in lock (lib/access/lock.ts): one holder at a time, waiters that end when the
// holder's work is visible, and a lock left by a crashed process taken over at once.
import { expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { withLock } from "../lib/access/lock.ts";
import { tempDir } from "./helpers/tmp.ts";

test("a waiter gets the holder's result instead of doing the work again", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  let result: string | undefined;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let waited = 0;
  const first = withLock(path, { staleAfterMs: 60_000, pollMs: 10 }, async () => result, async () => {
    await held;
    return (result = "signed in once");
  });
  const second = withLock(path, { staleAfterMs: 60_000, pollMs: 10, onWait: () => waited++ }, async () => result, async () => "signed in twice");
  // The second is waiting (it saw the lock); let the first finish.
  while (waited === 0) await new Promise((r) => setTimeout(r, 5));
  release();
  expect(await Promise.all([first, second])).toEqual(["signed in once", "signed in once"]);
  expect(existsSync(path)).toBe(false);
});

test("a lock whose process is gone is taken over at once", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  const dead = Bun.spawn(["true"]);
  await dead.exited;
  writeFileSync(path, `${dead.pid}\n${hostname()}\n${Date.now()}\n`);
  let waited = false;
  const r = await withLock(path, { staleAfterMs: 60_000, onWait: () => (waited = true) }, async () => undefined, async () => "mine");
  expect(r).toBe("mine");
  expect(waited).toBe(false);
});

test("a lock older than its limit is taken over even if its process lives", async () => {
  await using dir = await tempDir();
  const path = dir.join("edge-session.lock");
  writeFileSync(path, `${process.pid}\n${hostname()}\n${Date.now() - 120_000}\n`);
  expect(await withLock(path, { staleAfterMs: 60_000 }, async () => undefined, async () => "mine")).toBe("mine");
});

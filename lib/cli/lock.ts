// A lock file, so that twenty parallel ssh runs do one sign-in or one key generation, not
// twenty. The holder's pid is in the file; a lock whose holder died is taken over.
import { open, readFile, rm, stat } from "node:fs/promises";
import { temporaryError } from "./exit.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** An empty lock file older than this was left by a holder that died before writing its pid. */
const EMPTY_STALE_MS = 10_000;

const olderThan = async (path: string, ms: number) => {
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > ms;
};

/**
 * Removes a dead holder's lock, if it still holds `stale`: one waiter at a time (the one that
 * makes `<path>.takeover`), so that no waiter removes a lock another has just taken over.
 */
async function takeOver(path: string, stale: string) {
  const guard = `${path}.takeover`;
  try {
    await (await open(guard, "wx", 0o600)).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // another waiter is taking over; a guard left by one that died goes after a while
    if (await olderThan(guard, EMPTY_STALE_MS)) await rm(guard, { force: true });
    else await Bun.sleep(10);
    return;
  }
  try {
    // still the dead holder's: the same pid, or still an old empty file (a new holder's lock
    // is empty too, for a moment, but not old)
    const now = await readFile(path, "utf8").catch(() => undefined);
    if (now === stale && (stale !== "" || (await olderThan(path, EMPTY_STALE_MS)))) await rm(path, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}

export interface LockOptions {
  timeoutMs?: number;
  /** Called once if the lock is held by another live process, which we then wait for. */
  onWait?(holderPid: number): void;
}

export async function withLock<T>(path: string, fn: () => Promise<T>, { timeoutMs = 180_000, onWait }: LockOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let waiting = false;
  for (;;) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let text: string | undefined;
      try {
        text = await readFile(path, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // released meanwhile
        // a lock we cannot read (another user's) is held for us: wait, up to the deadline
      }
      const pid = Number(text ?? 0);
      // an empty file is a holder between open and write, unless it has been so for long
      if (text !== undefined && (pid > 0 ? !alive(pid) : await olderThan(path, EMPTY_STALE_MS))) await takeOver(path, text);
      else if (Date.now() > deadline) throw temporaryError(`gave up waiting for the lock ${path} held by ${pid > 0 ? `process ${pid}` : "a process that did not say which"}; remove it if that process is gone`);
      else {
        // only a holder that named itself is reported: one seen between its open and its write
        // (an empty file) must not use up the one report
        if (!waiting && pid > 0) {
          onWait?.(pid);
          waiting = true;
        }
        await Bun.sleep(50);
      }
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

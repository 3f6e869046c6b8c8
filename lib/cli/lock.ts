// A lock file, so that twenty parallel ssh runs do one sign-in or one key generation, not
// twenty. The holder's pid is in the file; a lock whose holder died is taken over.
import { open, readFile, rm } from "node:fs/promises";
import { temporaryError } from "./exit.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

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
      const pid = Number(await readFile(path, "utf8").catch(() => ""));
      // an empty file is a holder between open and write; only a dead pid is stale
      if (pid > 0 && !alive(pid)) await rm(path, { force: true });
      else if (Date.now() > deadline) throw temporaryError(`gave up waiting for the lock ${path} held by process ${pid}; remove it if that process is gone`);
      else {
        if (!waiting) onWait?.(pid);
        waiting = true;
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

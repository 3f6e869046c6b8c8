// A lock file so that twenty `ssh` started together sign in once: the first process to
// create the file (O_EXCL) signs in, the others wait for it to go and then find the new
// session. A holder that crashed leaves a file naming a dead process; the next waiter
// removes it. A holder that hangs is overtaken after `staleAfterMs`.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { hostname } from "node:os";

export type LockOptions = {
  /** A lock older than this is taken to be abandoned, whatever its process. */
  staleAfterMs: number;
  /** How often a waiter looks again. */
  pollMs?: number;
  /** Called once, when this process starts waiting for another. */
  onWait?(holderPid: number): void;
  signal?: AbortSignal;
};

type Holder = { pid: number; host: string; at: number; text: string };

function readHolder(path: string): Holder | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const [pid, host, at] = text.split("\n");
  return { pid: Number(pid), host: host ?? "", at: Number(at), text };
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, but not ours
  }
}

function isStale(h: Holder, staleAfterMs: number): boolean {
  if (!Number.isFinite(h.at) || Date.now() - h.at > staleAfterMs) return true;
  // Only a process on this machine can be checked; a lock from another (a shared home) ages out.
  return h.host === hostname() && !alive(h.pid);
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  try {
    writeSync(fd, `${process.pid}\n${hostname()}\n${Date.now()}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Runs `fn` holding the lock at `path`. While another process holds it, waits; `ready()` is
 * asked after every wait, and when it returns a value the wait ends with that value instead
 * (the other process did the work).
 */
export async function withLock<T>(path: string, opts: LockOptions, ready: () => Promise<T | undefined>, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let told = false;
  for (;;) {
    if (tryCreate(path)) {
      try {
        return await fn();
      } finally {
        try {
          unlinkSync(path);
        } catch {
          // removed as stale by a waiter that gave up on us: nothing to release
        }
      }
    }
    const holder = readHolder(path);
    if (!holder) continue; // released between our attempt and our look
    if (isStale(holder, opts.staleAfterMs)) {
      // Remove it only if it is still the same file content we judged; a fresh lock taken
      // meanwhile by another waiter stays.
      if (readHolder(path)?.text === holder.text) {
        try {
          unlinkSync(path);
        } catch {
          // another waiter removed it first
        }
      }
      continue;
    }
    if (!told) {
      opts.onWait?.(holder.pid);
      told = true;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
    const done = await ready();
    if (done !== undefined) return done;
  }
}

// Processes for integration tests: no sleeps, only waits for a line or an exit, and every
// failure message carries what the process printed.
//
//   await using sshd = spawnProc(["/usr/sbin/sshd", "-D", "-e", "-f", cfg]);
//   const [, port] = await sshd.waitForLine(/Server listening on \S+ port (\d+)/, { stream: "stderr" });
//   const r = await run(["ssh", ...args, "true"]);
//   expectExit(r, 0);
import type { Subprocess } from "bun";
import { basename } from "node:path";

export type Env = Record<string, string | undefined>;
export type StreamName = "stdout" | "stderr";

export interface SpawnOptions {
  cwd?: string;
  /** Merged over process.env; a key set to undefined is removed. */
  env?: Env;
  /** "pipe" gives `proc.stdin` to write to; a Blob (such as `Bun.file(path)`) is read as stdin; default "ignore" (/dev/null). */
  stdin?: "pipe" | "ignore" | Blob;
  /** Name in messages; default the command's base name. */
  name?: string;
  /** Own process group: kill() then signals the process and everything it started. */
  detached?: boolean;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Which output to watch; default both. */
  stream?: StreamName | "any";
}

export interface Proc extends AsyncDisposable {
  readonly name: string;
  readonly pid: number;
  readonly subprocess: Subprocess;
  /** Writable stdin when spawned with `stdin: "pipe"`. */
  readonly stdin: import("bun").FileSink | undefined;
  /** The exit code (128 + signal number when killed), once the process and its output have ended. */
  readonly exited: Promise<number>;
  /** Exit code, or undefined while running. */
  readonly exitCode: number | undefined;
  stdout(): string;
  stderr(): string;
  /** Both outputs, labelled and trimmed to the last few KiB each: for failure messages. */
  output(): string;
  /**
   * The first line, after the last line an earlier waitForLine matched on the same stream,
   * that matches `re`. Rejects on timeout or when the process ends first, with its output.
   */
  waitForLine(re: RegExp, opts?: number | WaitOptions): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals | number): void;
  /** SIGTERM, then SIGKILL if still running after `graceMs`; resolves the exit code. */
  stop(graceMs?: number): Promise<number>;
}

const DEFAULT_WAIT_MS = 10_000;
// Output read after the process has exited: a grandchild holding the pipe open must not
// hang a test forever, but output that is merely in flight must not be lost.
const OUTPUT_DRAIN_MS = 2_000;
const TAIL_CHARS = 6_000;

export function mergeEnv(env?: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) out[k] = v;
  return out;
}

/** Waits for `p`, but no longer than `ms`. */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: Timer | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function tail(s: string): string {
  return s.length > TAIL_CHARS ? `…${s.slice(-TAIL_CHARS)}` : s;
}

function describe(name: string, stdout: string, stderr: string): string {
  const part = (label: string, s: string) => (s ? `--- ${label} of ${name} ---\n${tail(s).trimEnd()}\n` : `--- ${label} of ${name}: (empty) ---\n`);
  return part("stdout", stdout) + part("stderr", stderr);
}

/** Starts a long-running process whose output is collected line by line. */
export function spawnProc(cmd: string[], opts: SpawnOptions = {}): Proc {
  const name = opts.name ?? basename(cmd[0] ?? "process");
  const sub = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: mergeEnv(opts.env),
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: opts.detached ?? false,
  });

  const text: Record<StreamName, string> = { stdout: "", stderr: "" };
  const lines: Record<StreamName, string[]> = { stdout: [], stderr: [] };
  const cursor: Record<StreamName, number> = { stdout: 0, stderr: 0 };
  type Waiter = { re: RegExp; streams: StreamName[]; resolve: (m: RegExpMatchArray) => void; reject: (e: Error) => void; timer: Timer };
  const waiters = new Set<Waiter>();
  let code: number | undefined;
  let ended = false;

  const tryMatch = (w: Waiter): boolean => {
    for (const s of w.streams) {
      for (let i = cursor[s]; i < lines[s].length; i++) {
        const m = lines[s][i]!.match(w.re);
        if (m) {
          cursor[s] = i + 1;
          clearTimeout(w.timer);
          waiters.delete(w);
          w.resolve(m);
          return true;
        }
      }
    }
    return false;
  };

  const pump = async (stream: ReadableStream<Uint8Array>, s: StreamName) => {
    const decoder = new TextDecoder();
    let partial = "";
    const push = (chunk: string) => {
      text[s] += chunk;
      partial += chunk;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      if (parts.length === 0) return;
      for (const line of parts) lines[s].push(line.replace(/\r$/, ""));
      for (const w of [...waiters]) tryMatch(w);
    };
    try {
      for await (const chunk of stream) push(decoder.decode(chunk, { stream: true }));
    } catch {
      // the pipe was torn down with the process: what was read is all there is
    }
    push(decoder.decode() + (partial ? "\n" : ""));
  };
  const readers = Promise.all([pump(sub.stdout, "stdout"), pump(sub.stderr, "stderr")]);

  const exited = sub.exited.then(async (c) => {
    await settleWithin(readers, OUTPUT_DRAIN_MS);
    code = c;
    ended = true;
    for (const w of [...waiters]) {
      if (tryMatch(w)) continue;
      clearTimeout(w.timer);
      waiters.delete(w);
      w.reject(new Error(`${name} exited with code ${c} before printing a line matching ${w.re}\n${describe(name, text.stdout, text.stderr)}`));
    }
    return c;
  });

  const kill = (signal: NodeJS.Signals | number = "SIGTERM") => {
    if (sub.exitCode !== null || sub.signalCode !== null) return;
    try {
      if (opts.detached) process.kill(-sub.pid, signal);
      else sub.kill(signal);
    } catch {
      // already gone
    }
  };

  const stop = async (graceMs = 5_000) => {
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    name,
    pid: sub.pid,
    subprocess: sub,
    stdin: opts.stdin === "pipe" ? (sub.stdin as import("bun").FileSink) : undefined,
    exited,
    get exitCode() {
      return code;
    },
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    output: () => describe(name, text.stdout, text.stderr),
    waitForLine(re, o) {
      const { timeoutMs = DEFAULT_WAIT_MS, stream = "any" } = typeof o === "number" ? { timeoutMs: o } : (o ?? {});
      const streams: StreamName[] = stream === "any" ? ["stdout", "stderr"] : [stream];
      return new Promise<RegExpMatchArray>((resolve, reject) => {
        const w: Waiter = {
          re,
          streams,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(w);
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${name} to print a line matching ${re} on ${streams.join("/")}\n${describe(name, text.stdout, text.stderr)}`));
          }, timeoutMs),
        };
        waiters.add(w);
        if (tryMatch(w)) return;
        if (ended) {
          clearTimeout(w.timer);
          waiters.delete(w);
          reject(new Error(`${name} exited with code ${code} before printing a line matching ${re}\n${describe(name, text.stdout, text.stderr)}`));
        }
      });
    },
    kill,
    stop,
    async [Symbol.asyncDispose]() {
      if (code === undefined) await stop();
    },
  };
}

export interface RunOptions {
  cwd?: string;
  /** Merged over process.env; a key set to undefined is removed. */
  env?: Env;
  /** Written to the process's stdin, which is then closed; default /dev/null. */
  stdin?: string | Uint8Array | Blob;
  /** Killed (SIGKILL) and the call rejected after this long; default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  cmd: string[];
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and collects its output. */
export async function run(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = 30_000 } = opts;
  const stdin = opts.stdin === undefined ? "ignore" : typeof opts.stdin === "string" ? new Blob([opts.stdin]) : opts.stdin instanceof Blob ? opts.stdin : new Blob([opts.stdin]);
  const sub = Bun.spawn(cmd, { cwd: opts.cwd, env: mergeEnv(opts.env), stdin, stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    sub.kill("SIGKILL");
  }, timeoutMs);
  const out = { stdout: "", stderr: "" };
  const read = async (stream: ReadableStream<Uint8Array>, key: StreamName) => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) out[key] += decoder.decode(chunk, { stream: true });
    } catch {
      // torn down with the process
    }
    out[key] += decoder.decode();
  };
  const readers = Promise.all([read(sub.stdout, "stdout"), read(sub.stderr, "stderr")]);
  const code = await sub.exited;
  await settleWithin(readers, OUTPUT_DRAIN_MS);
  clearTimeout(timer);
  const { stdout, stderr } = out;
  const name = basename(cmd[0] ?? "process");
  if (timedOut) throw new Error(`timed out after ${timeoutMs} ms: ${cmd.join(" ")}\n${describe(name, stdout, stderr)}`);
  return { cmd, code, stdout, stderr };
}

/** Throws, with the command and its output, unless it exited with `code`. */
export function expectExit(r: RunResult, code = 0): RunResult {
  if (r.code !== code) {
    throw new Error(`expected exit code ${code}, got ${r.code}: ${r.cmd.join(" ")}\n${describe(basename(r.cmd[0] ?? ""), r.stdout, r.stderr)}`);
  }
  return r;
}

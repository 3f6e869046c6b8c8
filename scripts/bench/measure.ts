// The measurements. Each returns raw figures (milliseconds, bytes, KiB); report.ts summarises
// them. Figures that have a peer are taken in turns with it (A B C, A B C, …) so that whatever
// else the machine does at the time weighs on both alike.
import { truncate, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { readdirSync, statSync } from "node:fs";
import { dialApp } from "../../lib/access/dial.ts";
import { expectExit, run, spawnProc } from "../../test/helpers/proc.ts";
import { DIST } from "../../test/helpers/bin.ts";
import { connectTcp, download, fillRandom, Mode, upload } from "../../test/helpers/origin.ts";
import { WICKET, type ServiceToken } from "../../test/helpers/wicket.ts";
import type { TempDir } from "../../test/helpers/tmp.ts";
import { ORIGIN_SCRIPT, TCP_HOST, type Rig, type SshPath } from "./rig.ts";
import { cpuSeconds, resetPeak, statusKiB, watchPeak } from "./procfs.ts";
import { GiB, MiB } from "./stats.ts";

export const WARMUP_BYTES = 32 * MiB;

export async function timed<T>(f: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

// ---- 3. start-up and connection setup ---------------------------------------------------

/** `wicket --version`, spawn to exit. */
export async function versionStartup(runs: number): Promise<{ ms: number[]; version: string }> {
  const version = expectExit(await run([WICKET, "--version"])).stdout.trim().replace(/^wicket /, ""); // also warms the page cache
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await timed(async () => expectExit(await run([WICKET, "--version"]))));
  return { ms, version };
}

/** `ssh H true` on each path, with the service token on the command line (nothing to sign in to). */
export async function connectionSetup(rig: Rig, runs: number): Promise<Record<SshPath["name"], number[]>> {
  const paths = Object.values(rig.ssh);
  const out = { direct: [] as number[], jump: [] as number[], wicket: [] as number[] };
  for (const p of paths) expectExit(await run(["ssh", ...p.args, "true"])); // warm-up
  for (let i = 0; i < runs; i++) {
    for (const p of paths) out[p.name].push(await timed(async () => expectExit(await run(["ssh", ...p.args, "true"]))));
  }
  return out;
}

// ---- 4. many streams ------------------------------------------------------------------

export interface StreamsResult {
  streams: number;
  bytesEach: number;
  /** Streams whose echo came back byte for byte. */
  verified: number;
  /** Why the first stream that did not verify failed, if one did. */
  firstFailure?: string;
  openMs: number;
  edgeKiB: { before: number; open: number };
  connectorKiB: { before: number; open: number };
}

/** What comes back from an echo: `wait(n)` resolves with the next `n` bytes once they are in;
 * `arrived` takes each chunk as it comes, `failed` ends a wait that nothing more will answer. */
function echoWaiter() {
  let want = 0;
  const got: Uint8Array[] = [];
  let gotBytes = 0;
  let waiter: { resolve(b: Buffer): void; reject(e: Error): void } | undefined;
  const settle = () => {
    if (!waiter || gotBytes < want) return;
    const w = waiter;
    waiter = undefined;
    const all = Buffer.concat(got);
    got.length = 0;
    gotBytes = 0;
    w.resolve(all);
  };
  return {
    arrived(chunk: Uint8Array) {
      got.push(chunk);
      gotBytes += chunk.byteLength;
      settle();
    },
    failed: (err: Error) => waiter?.reject(err),
    wait(n: number): Promise<Buffer> {
      want = n;
      return new Promise<Buffer>((resolve, reject) => (waiter = { resolve, reject }));
    },
  };
}

/** An echo stream opened straight to the edge (or through `via`, a long link to it), as `access
 * tcp` would: WebSocket + service token. */
export async function echoStream(rig: Rig, via: { edge: string; host: string; token: ServiceToken } = { edge: rig.edge.url, host: TCP_HOST, token: rig.tcpToken }) {
  const ws = await dialApp({ hostname: via.host, edge: via.edge, ca: rig.caPem, serviceToken: via.token });
  const back = echoWaiter();
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") back.arrived(ev.data as Uint8Array);
  };
  const closed = new Promise<void>((resolve) => {
    ws.onclose = (ev) => {
      back.failed(new Error(`the stream closed before its echo arrived (${ev.code} ${ev.reason})`));
      resolve();
    };
  });
  ws.send(new TextEncoder().encode(Mode.echo)); // the origin's echo mode (binary: text messages are control)
  return {
    /** Sends bytes and resolves with as many bytes echoed. */
    echo(bytes: Uint8Array): Promise<Buffer> {
      const p = back.wait(bytes.byteLength);
      ws.send(bytes);
      return p;
    },
    close() {
      ws.close(1000, "done");
      return closed;
    },
  };
}

/** The same over a plain TCP connection to `port` (the origin, or a path to it). */
export async function tcpEcho(port: number) {
  const back = echoWaiter();
  const conn = await connectTcp(port, (chunk) => back.arrived(chunk.slice())); // Bun reuses the chunk
  void conn.ended.then(() => back.failed(new Error("the echo connection closed before its echo arrived")));
  await conn.write(new TextEncoder().encode(Mode.echo));
  return {
    echo(bytes: Uint8Array): Promise<Buffer> {
      const p = back.wait(bytes.byteLength);
      void conn.write(bytes);
      return p;
    },
    close: () => conn.close(),
  };
}

/** Runs `f` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Echo streams opened through the TCP connector and kept open, each verified byte for byte,
 * and the resident size the edge and the connector grew by. Streams are opened up to each
 * checkpoint in turn (1,000, then 9,000 more for 10,000), all from one baseline, so that a
 * later count does not reuse memory an earlier one freed.
 */
export async function manyStreams(rig: Rig, checkpoints: number[], bytesEach: number): Promise<StreamsResult[]> {
  const rss = () => ({ edge: statusKiB(rig.edge.proc.pid, "VmRSS") ?? NaN, connector: statusKiB(rig.tcpConnector.pid, "VmRSS") ?? NaN });
  // warm-up, so that what is made once (code, TLS contexts) is not counted per stream
  for (const s of await pool(Array.from({ length: 16 }), 16, () => echoStream(rig))) {
    await s.echo(fillRandom(new Uint8Array(bytesEach)));
    await s.close();
  }
  const before = rss();
  const started = performance.now();
  const open: { s?: Awaited<ReturnType<typeof echoStream>>; ok: boolean; why?: string }[] = [];
  const out: StreamsResult[] = [];
  for (const n of checkpoints) {
    // A stream that fails to open or to echo counts against "verified", with its reason; it
    // does not end the run.
    const more = await pool(Array.from({ length: Math.max(0, n - open.length) }), 100, async () => {
      let s: Awaited<ReturnType<typeof echoStream>> | undefined;
      try {
        s = await echoStream(rig);
        const sent = fillRandom(new Uint8Array(bytesEach));
        const back = await s.echo(sent);
        const ok = Buffer.from(sent.buffer).equals(back);
        return { s, ok, why: ok ? undefined : "the echo differed from what was sent" };
      } catch (err) {
        return { s, ok: false, why: (err as Error).message };
      }
    });
    open.push(...more);
    const now = rss();
    out.push({
      streams: n,
      bytesEach,
      verified: open.filter((s) => s.ok).length,
      firstFailure: open.find((s) => !s.ok)?.why,
      openMs: performance.now() - started,
      edgeKiB: { before: before.edge, open: now.edge },
      connectorKiB: { before: before.connector, open: now.connector },
    });
  }
  await Promise.all(open.map(({ s }) => s?.close()));
  return out;
}

// ---- 5. fairness ----------------------------------------------------------------------

export interface FairnessResult {
  idleMs: number[];
  loadedMs: number[];
  /** Throughput of the bulk copy while the loaded echoes ran. */
  bulkMiBs: number;
}

/** Round trips of 64-byte echoes on one stream, alone and while another stream of the same
 * connector copies in bulk (from its own process, through `access tcp`). */
export async function fairness(rig: Rig, echoes: number): Promise<FairnessResult> {
  const s = await echoStream(rig);
  const rtts = async () => {
    const ms: number[] = [];
    const payload = fillRandom(new Uint8Array(64));
    for (let i = 0; i < echoes; i++) {
      const t0 = performance.now();
      const back = await s.echo(payload);
      ms.push(performance.now() - t0);
      if (!back.equals(payload)) throw new Error("an echo came back different");
    }
    return ms;
  };
  await rtts(); // warm-up
  const idleMs = await rtts();
  await using bulk = spawnProc([process.execPath, ORIGIN_SCRIPT, "upload", String(rig.accessTcp.port), String(2 ** 50)], { name: "bulk upload" });
  const progress = /^sent (\d+) bytes in (\d+) ms/;
  const [, b0, t0] = await bulk.waitForLine(progress, { stream: "stdout", timeoutMs: 30_000 });
  const loadedMs = await rtts();
  const last = bulk.stdout().trim().split("\n").reverse().map((l) => progress.exec(l)).find(Boolean);
  if (bulk.exitCode !== undefined) throw new Error(`the bulk copy ended during the measurement\n${bulk.output()}`);
  await s.close();
  const [b1, t1] = [Number(last![1]), Number(last![2])];
  return { idleMs, loadedMs, bulkMiBs: t1 > Number(t0) ? (b1 - Number(b0)) / MiB / ((t1 - Number(t0)) / 1000) : NaN };
}

// ---- 2. raw TCP bulk ------------------------------------------------------------------

export interface PeakKiB {
  [process: string]: number;
}

/** CPU seconds each process used per GiB it carried. */
export interface CpuPerGiB {
  [process: string]: number;
}

/** CPU time of named processes across a section, per GiB that went through them. */
function cpuMeter(procs: Record<string, number>) {
  const start = Object.fromEntries(Object.entries(procs).map(([n, pid]) => [n, cpuSeconds(pid)]));
  return {
    perGiB(bytes: number): CpuPerGiB {
      return Object.fromEntries(Object.entries(procs).map(([n, pid]) => [n, (cpuSeconds(pid) - start[n]!) / (bytes / GiB)]));
    },
  };
}

export interface TcpBulkResult {
  bytes: number;
  up: { direct: number[]; wicket: number[] };
  down: { direct: number[]; wicket: number[] };
  peakKiB: PeakKiB;
  /** CPU seconds per GiB through wicket, upload and download together. */
  cpuPerGiB: CpuPerGiB;
}

/** Bytes to the sink and from the source, directly and through `access tcp`. */
export async function tcpBulk(rig: Rig, bytes: number, runs: number): Promise<TcpBulkResult> {
  const procs = { edge: rig.edge.proc.pid, connector: rig.tcpConnector.pid, "access tcp": rig.accessTcp.proc.pid };
  const ports = { direct: rig.origin.port, wicket: rig.accessTcp.port };
  for (const port of Object.values(ports)) await Promise.all([upload(port, WARMUP_BYTES), download(port, WARMUP_BYTES)]);
  for (const pid of Object.values(procs)) resetPeak(pid);
  const cpu = cpuMeter(procs); // they idle during the direct runs
  const out: TcpBulkResult = { bytes, up: { direct: [], wicket: [] }, down: { direct: [], wicket: [] }, peakKiB: {}, cpuPerGiB: {} };
  const where = { direct: "straight to the origin", wicket: "through wicket access tcp" };
  const named = <T>(path: keyof typeof where, p: Promise<T>) =>
    p.catch((err: Error) => {
      throw new Error(`${err.message} (${where[path]})`);
    });
  for (let i = 0; i < runs; i++) {
    for (const path of ["direct", "wicket"] as const) {
      out.up[path].push((await named(path, upload(ports[path], bytes))).ms);
      out.down[path].push((await named(path, download(ports[path], bytes))).ms);
    }
  }
  for (const [name, pid] of Object.entries(procs)) out.peakKiB[name] = statusKiB(pid, "VmHWM") ?? NaN;
  out.cpuPerGiB = cpu.perGiB(2 * runs * bytes);
  return out;
}

// ---- 1. SSH bulk ----------------------------------------------------------------------

export interface SshBulkResult {
  bytes: number;
  ms: Record<SshPath["name"], number[]>;
  peakKiB: PeakKiB;
  /** CPU seconds per GiB through wicket of the edge and the connector (`access ssh` lives too
   * briefly to read reliably). */
  cpuPerGiB: CpuPerGiB;
}

/** A sparse file of `bytes` zeros: ssh reads it from disk cache for free, and encrypts it, so
 * its content changes nothing on the way. */
export async function zeros(dir: TempDir, bytes: number): Promise<string> {
  const path = dir.join(`zeros-${bytes}`);
  await writeFile(path, "");
  await truncate(path, bytes);
  return path;
}

/** One `ssh H 'cat > /dev/null'` with `file` as stdin; returns ms and, with `watch`, the peak
 * resident size of the `access ssh` it ran as ProxyCommand. */
export async function sshCat(p: { name: string; args: string[] }, file: string, watch = p.name === "wicket"): Promise<{ ms: number; peakKiB: number }> {
  const t0 = performance.now();
  const proc = spawnProc(["ssh", ...p.args, "cat > /dev/null"], { stdin: Bun.file(file), name: `ssh (${p.name})` });
  const peak = watch ? watchPeak(proc.pid, WICKET) : undefined;
  const code = await proc.subprocess.exited;
  const ms = performance.now() - t0;
  const peakKiB = peak?.stop() ?? 0;
  if ((await proc.exited) !== 0) throw new Error(`ssh through ${p.name} failed with exit code ${code}\n${proc.output()}`);
  return { ms, peakKiB };
}

export async function sshBulk(rig: Rig, bytes: number, runs: number): Promise<SshBulkResult> {
  const [file, warm] = await Promise.all([zeros(rig.dir, bytes), zeros(rig.dir, WARMUP_BYTES)]);
  const paths = Object.values(rig.ssh);
  for (const p of paths) await sshCat(p, warm);
  const procs = { edge: rig.edge.proc.pid, connector: rig.sshConnector.pid };
  for (const pid of Object.values(procs)) resetPeak(pid);
  const cpu = cpuMeter(procs);
  const out: SshBulkResult = { bytes, ms: { direct: [], jump: [], wicket: [] }, peakKiB: {}, cpuPerGiB: {} };
  let accessPeak = 0;
  for (let i = 0; i < runs; i++) {
    for (const p of paths) {
      const r = await sshCat(p, file);
      out.ms[p.name].push(r.ms);
      accessPeak = Math.max(accessPeak, r.peakKiB);
    }
  }
  for (const [name, pid] of Object.entries(procs)) out.peakKiB[name] = statusKiB(pid, "VmHWM") ?? NaN;
  out.peakKiB["access ssh"] = accessPeak;
  out.cpuPerGiB = cpu.perGiB(runs * bytes);
  return out;
}

/** `copies` SSH bulk copies at once through one connector (each `bytes / copies`), beside as
 * many direct ones, in turns; each run's time is until the last copy ended. */
export interface SshParallelResult {
  copies: number;
  /** All copies together. */
  bytes: number;
  ms: { direct: number[]; wicket: number[] };
  cpuPerGiB: CpuPerGiB;
}

export async function sshParallel(rig: Rig, bytes: number, copies: number, runs: number): Promise<SshParallelResult> {
  const file = await zeros(rig.dir, bytes / copies);
  const paths = [rig.ssh.direct, rig.ssh.wicket];
  const all = (p: SshPath) => timed(() => Promise.all(Array.from({ length: copies }, () => sshCat(p, file, false))));
  for (const p of paths) await all(p); // warm-up
  const cpu = cpuMeter({ edge: rig.edge.proc.pid, connector: rig.sshConnector.pid });
  const out: SshParallelResult = { copies, bytes, ms: { direct: [], wicket: [] }, cpuPerGiB: {} };
  for (let i = 0; i < runs; i++) for (const p of paths) out.ms[p.name as "direct" | "wicket"].push(await all(p));
  out.cpuPerGiB = cpu.perGiB(runs * bytes);
  return out;
}

// ---- 6. the AES-GCM floor -------------------------------------------------------------

/** AES-GCM passes a byte takes through each wicket process: the client encrypts towards the
 * edge, the edge decrypts it and encrypts it again towards the connector, the connector
 * decrypts it (and the same the other way). */
export const AES_PASSES: Record<string, number> = { edge: 2, connector: 1, "access tcp": 1, "access ssh": 1 };

/** Bytes per second one core encrypts with AES-128-GCM in 16 KiB blocks (TLS records), by
 * `openssl speed`; NaN where openssl cannot tell. */
export async function aesGcmRate(seconds = 2): Promise<number> {
  const r = await run(["openssl", "speed", "-mr", "-evp", "aes-128-gcm", "-bytes", "16384", "-seconds", String(seconds)]);
  // machine-readable: "+F:<n>:AES-128-GCM:<bytes per second>"
  const m = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

// ---- 7. sizes -------------------------------------------------------------------------

/** Sizes of the built executables, dist/wicket first. */
export function binarySizes(): Record<string, number> {
  const names = readdirSync(DIST).filter((f) => statSync(`${DIST}/${f}`).isFile()).sort((a, b) => (a === "wicket" ? -1 : b === "wicket" ? 1 : a.localeCompare(b)));
  return Object.fromEntries(names.map((f) => [basename(f), statSync(`${DIST}/${f}`).size]));
}

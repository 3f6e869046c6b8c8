// `bun run bench` (or `npm run bench`; both build first): how fast wicket carries SSH and TCP,
// each figure measured beside its peer in the same run, since absolute numbers drift between
// machines. Everything runs on 127.0.0.1 and is started here: a throwaway sshd, a second
// sshd as an OpenSSH jump host, TCP origins, an edge, connectors (scripts/bench/rig.ts); and,
// where a PostgreSQL server is named (WICKET_BENCH_POSTGRES_URL or WICKET_TEST_POSTGRES_URL),
// three edge nodes on a throwaway database of it for the "through a peer node" group
// (scripts/bench/peers.ts); without one that group is reported as skipped.
//
//   bun run bench            the full run (about 4–6 minutes on 2 cores)
//   bun run bench --quick    a reduced set in under a minute (CI prints it; nothing is asserted)
//   bun run bench --wan      the long-link rows alone (scripts/bench/wan.ts), about 5 minutes
//   bun scripts/bench.ts --report docs/bench/latest.json
//                            the tables and docs again from a saved full run, nothing measured
//
// Prints the table, writes the raw figures to bench-results/<date>[-quick].json, and after a
// full run also docs/bench/latest.json, docs/bench/chart.svg, the table in docs/performance.md and its targets in README.md
// (between the bench markers); --wan writes docs/bench/wan-latest.json and .md. Exits 0 whatever the figures are; 1 when a measurement broke.
import { execSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { aesGcmRate, binarySizes, connectionSetup, fairness, manyStreams, sshBulk, sshParallel, tcpBulk, versionStartup } from "./bench/measure.ts";
import { chartSvg, derive, headlineReport, markdownReport, targets, textReport, type BenchResults } from "./bench/report.ts";
import { peerBulk, peerSetup, revokeToCut, startPeerRig } from "./bench/peers.ts";
import { CIPHER, startRig, type Rig } from "./bench/rig.ts";
import { GiB, MiB } from "./bench/stats.ts";
import { measureWan, type WanPlan } from "./bench/wan.ts";
import { wanReport } from "./bench/wan-report.ts";
import { machineBusySeconds, ownCpuSeconds } from "./bench/procfs.ts";

const ROOT = join(import.meta.dir, "..");
// the whole table in docs/performance.md, the targets alone in README.md
const FULL_MARKERS = ["<!-- bench:begin (written by `bun run bench`) -->", "<!-- bench:end -->"] as const;
const HEADLINE_MARKERS = ["<!-- bench:headline (written by `bun run bench`) -->", "<!-- bench:headline-end -->"] as const;

const PLANS = {
  full: {
    sshBytes: GiB, tcpBytes: GiB, bulkRuns: 5, setupRuns: 30, versionRuns: 30, streams: [1000, 10_000], streamBytes: 16 * 1024, echoes: 2000, parallel: { copies: 4, runs: 3 },
    peers: { sshBytes: GiB, bulkRuns: 5, setupRuns: 30, revokeRuns: 10 },
  },
  quick: {
    sshBytes: 128 * MiB, tcpBytes: 128 * MiB, bulkRuns: 3, setupRuns: 8, versionRuns: 10, streams: [200], streamBytes: 16 * 1024, echoes: 300, parallel: { copies: 4, runs: 2 },
    peers: { sshBytes: 64 * MiB, bulkRuns: 3, setupRuns: 8, revokeRuns: 2 },
  },
};

/** Long links (issue 27): two delay lines of half the round trip each, at a datacentre's link rate. */
const WAN_PLAN: WanPlan = { rttsMs: [40, 100], mbit: 1000, tcpBytes: 256 * MiB, sshBytes: 64 * MiB, streams: 4, runs: 2, echoes: 200 };

const USAGE = "usage: bun run bench [--quick | --wan | --report FILE]   (npm run bench -- --quick)";

function machine(): BenchResults["machine"] {
  const os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown CPU",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / GiB),
    os,
    kernel: release(),
    loadAtStart: loadavg(),
    othersCpuShare: NaN,
  };
}

const log = (msg: string) => console.error(`bench: ${msg}`);
/** Set on SIGINT/SIGTERM: what fails after it is the interruption, not a measurement. */
let stopping = false;
/** What an interruption must stop: the rig, and the peer nodes while their group runs. */
const running = new Set<AsyncDisposable>();

/** The "through a peer node" group, on three nodes of its own that stop when it ends. */
async function measurePeers(rig: Rig, plan: (typeof PLANS)["full"]["peers"]): Promise<BenchResults["peers"]> {
  const peers = await startPeerRig(log, rig.sshd);
  if ("skipped" in peers) {
    log(`through a peer node: skipped (${peers.skipped})`);
    return peers;
  }
  running.add(peers);
  const t0 = performance.now();
  try {
    log(`through a peer node: ssh H true, ${plan.setupRuns} runs through node 1 and through node 2`);
    const setup = await peerSetup(peers, plan.setupRuns);
    log(`through a peer node: SSH bulk, ${plan.sshBytes / MiB} MiB, ${plan.bulkRuns} runs through node 1 and through node 2`);
    const bulk = await peerBulk(peers, plan.sshBytes, plan.bulkRuns);
    log(`through a peer node: revoke through node 3 to the cut on node 2, ${plan.revokeRuns} runs by token and by session`);
    const revokeToCutMs = await revokeToCut(peers, plan.revokeRuns);
    log(`through a peer node: done in ${Math.round((performance.now() - t0) / 1000)} s`);
    return { setup, ...bulk, revokeToCutMs };
  } finally {
    running.delete(peers);
    await peers[Symbol.asyncDispose]();
  }
}

async function measure(rig: Rig, mode: "full" | "quick", version: { ms: number[]; version: string }): Promise<BenchResults> {
  const plan = PLANS[mode];
  log(`ssh H true, ${plan.setupRuns} runs on each path`);
  const setup = await connectionSetup(rig, plan.setupRuns);
  log(`${plan.streams.join(", then ")} concurrent streams`);
  const streams = await manyStreams(rig, plan.streams, plan.streamBytes);
  log(`fairness: ${plan.echoes} echoes alone, then beside a bulk copy`);
  const fair = await fairness(rig, plan.echoes);
  log("the AES-GCM floor: openssl speed -evp aes-128-gcm");
  const aesGcmBytesPerSec = await aesGcmRate();
  log(`raw TCP bulk, ${plan.tcpBytes / MiB} MiB each way, ${plan.bulkRuns} runs`);
  const tcp = await tcpBulk(rig, plan.tcpBytes, plan.bulkRuns);
  log(`SSH bulk, ${plan.sshBytes / MiB} MiB, ${plan.bulkRuns} runs on each path`);
  const ssh = await sshBulk(rig, plan.sshBytes, plan.bulkRuns);
  log(`SSH bulk, ${plan.parallel.copies} copies at once through one connector, ${plan.sshBytes / MiB} MiB in all, ${plan.parallel.runs} runs, beside as many direct`);
  const parallel = await sshParallel(rig, plan.sshBytes, plan.parallel.copies, plan.parallel.runs);
  const peers = await measurePeers(rig, plan.peers);
  const wan = mode === "full" ? await measureWan(rig, WAN_PLAN, log) : undefined;
  return {
    date: new Date().toISOString(),
    mode,
    durationS: 0, // set by main, which also counts start-up
    machine: machine(),
    software: { wicket: version.version, bun: Bun.version, openssh: execSync("ssh -V 2>&1").toString().trim().split(",")[0]! },
    params: { ...plan, cipher: CIPHER },
    version: { ms: version.ms },
    setup,
    streams,
    fairness: fair,
    tcpBulk: tcp,
    sshBulk: ssh,
    sshParallel: parallel,
    floor: { aesGcmBytesPerSec },
    peers,
    wan,
    sizes: binarySizes(),
  };
}

/** Replaces what lies between `markers` in the file at `rel`; false when it has none. */
function writeBetween(rel: string, [begin, end]: readonly [string, string], markdown: string): boolean {
  const path = join(ROOT, rel);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return false;
  }
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  writeFileSync(path, `${text.slice(0, a + begin.length)}\n${markdown}${text.slice(b)}`);
  return true;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  if (argv[0] === "--report" && argv.length === 2) return report(argv[1]!);
  const unknown = argv.filter((a) => a !== "--quick" && a !== "--wan");
  if (unknown.length > 0 || argv.length > 1) {
    console.error(`bench: ${unknown.length > 0 ? `unknown argument ${unknown[0]}` : "one of --quick and --wan"}\n${USAGE}`);
    return 64;
  }
  if (argv.includes("--wan")) return wanOnly();
  const mode = argv.includes("--quick") ? "quick" : "full";
  const t0 = performance.now();
  const loadAtStart = loadavg();
  const cpu0 = { busy: machineBusySeconds(), ours: ownCpuSeconds() };
  log(`${mode} run; load average ${loadAtStart.map((l) => l.toFixed(2)).join(" ")} (figures from a busy machine say little)`);

  // Start-up first, before anything else runs on the machine.
  log(`wicket --version, ${PLANS[mode].versionRuns} runs`);
  const version = await versionStartup(PLANS[mode].versionRuns);

  // The rig's processes (and the peer nodes, with their database) must not outlive an
  // interrupted run.
  const results = await withRig((rig) => measure(rig, mode, version));
  results.machine.loadAtStart = loadAtStart;
  results.durationS = (performance.now() - t0) / 1000;
  // what the rest of the machine took meanwhile: the rig has stopped, so its CPU time is ours
  const others = machineBusySeconds() - cpu0.busy - (ownCpuSeconds() - cpu0.ours);
  results.machine.othersCpuShare = Math.max(0, others / (results.durationS * results.machine.cores));

  publish(results, mode, true);
  log(`done in ${Math.round(results.durationS)} s; other processes took ${Math.round(results.machine.othersCpuShare * 100)} % of the CPU meanwhile`);
  return 0;
}

/** Prints a run's table and writes its files: bench-results/ (unless `raw` is false: a saved
 * run re-read), and for a full run docs/bench/ and the tables between the bench markers. */
function publish(results: BenchResults, mode: "full" | "quick", raw: boolean) {
  const d = derive(results);
  const t = targets(results, d);
  console.log(textReport(results, d, t));
  // microseconds are more than these figures can tell apart
  const round = (_: string, v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v);
  const json = `${JSON.stringify({ ...results, summary: d, targets: t }, round, 2)}\n`;
  if (raw) {
    const stamp = results.date.replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");
    const dir = join(ROOT, "bench-results");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${stamp}${mode === "quick" ? "-quick" : ""}.json`);
    writeFileSync(file, json);
    writeFileSync(file.replace(/\.json$/, ".svg"), chartSvg(results, d));
    log(`raw figures in ${file.slice(ROOT.length + 1)}, chart beside it`);
  }
  if (mode === "full") {
    const docs = join(ROOT, "docs", "bench");
    mkdirSync(docs, { recursive: true });
    writeFileSync(join(docs, "latest.json"), json);
    writeFileSync(join(docs, "chart.svg"), chartSvg(results, d));
    const tables = [
      writeBetween("docs/performance.md", FULL_MARKERS, markdownReport(results, d, t)) ? "the table in docs/performance.md" : "",
      writeBetween("README.md", HEADLINE_MARKERS, headlineReport(results, t, "docs/")) ? "the targets in README.md" : "",
    ].filter(Boolean);
    log(`wrote docs/bench/latest.json and docs/bench/chart.svg${tables.length ? `, ${tables.join(" and ")}` : "; no bench markers found, no table written"}`);
  }
}

/** `--report FILE`: the tables and docs again from a saved full run, as this build reports them. */
function report(file: string): number {
  let saved: BenchResults & { summary?: unknown; targets?: unknown };
  try {
    saved = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    console.error(`bench: cannot read ${file} (${(e as Error).message}); name the JSON of a full run, such as docs/bench/latest.json`);
    return 66;
  }
  if (saved.mode !== "full") {
    console.error(`bench: ${file} is not a full run (mode ${JSON.stringify(saved.mode)}); only a full run's figures go into the docs`);
    return 65;
  }
  const { summary: _summary, targets: _targets, ...results } = saved;
  publish(results, "full", false);
  return 0;
}

/** Starts the rig and stops it, also on SIGINT/SIGTERM. */
async function withRig<T>(f: (rig: Rig) => Promise<T>): Promise<T> {
  const rig = await startRig(log);
  running.add(rig);
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    void Promise.allSettled([...running].map((r) => r[Symbol.asyncDispose]())).finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await f(rig);
  } finally {
    running.delete(rig);
    await rig[Symbol.asyncDispose]();
  }
}

/** `--wan`: the long-link rows alone. */
async function wanOnly(): Promise<number> {
  const t0 = performance.now();
  const load = loadavg();
  log(`long links only; load average ${load.map((l) => l.toFixed(2)).join(" ")} (figures from a busy machine say little)`);
  const wan = await withRig((rig) => measureWan(rig, WAN_PLAN, log));
  const m = machine();
  const date = new Date().toISOString();
  const header = `\`bun run bench --wan\` on ${m.cpu}, ${m.cores} cores, Bun ${Bun.version}, ${date.slice(0, 16)}Z; load average ${load.map((l) => l.toFixed(2)).join(" ")} at the start, ${loadavg()[0]!.toFixed(2)} at the end; ${Math.round((performance.now() - t0) / 1000)} s`;
  console.log(wanReport(wan, header, false));
  const json = `${JSON.stringify({ date, machine: { ...m, loadAtStart: load, loadAtEnd: loadavg() }, ...wan }, null, 2)}\n`;
  const dir = join(ROOT, "bench-results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${date.replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z")}-wan.json`), json);
  const docs = join(ROOT, "docs", "bench");
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, "wan-latest.json"), json);
  writeFileSync(join(docs, "wan-latest.md"), wanReport(wan, header, true));
  log("wrote docs/bench/wan-latest.json and docs/bench/wan-latest.md");
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (!stopping) {
    console.error(`bench: a measurement failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  }
}

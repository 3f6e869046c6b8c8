// From raw figures to what people read: the table (text for the terminal, Markdown for the
// README), the targets of issues 6 and 15 marked met or not, and a hand-drawn SVG bar chart.
import { AES_PASSES, type FairnessResult, type SshBulkResult, type SshParallelResult, type StreamsResult, type TcpBulkResult } from "./measure.ts";
import type { PeersResult } from "./peers.ts";
import { GiB, mibPerSec, MiB, summarize, type Summary } from "./stats.ts";
import type { WanResult } from "./wan.ts";
import { deriveWan, wanRows, wanTargets } from "./wan-report.ts";

export interface BenchResults {
  date: string;
  mode: "full" | "quick";
  durationS: number;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    os: string;
    kernel: string;
    loadAtStart: number[];
    /** Share of the machine's CPU time that other processes used during the run (0–1). */
    othersCpuShare: number;
  };
  software: { wicket: string; bun: string; openssh: string };
  params: {
    sshBytes: number;
    tcpBytes: number;
    bulkRuns: number;
    setupRuns: number;
    versionRuns: number;
    streams: number[];
    streamBytes: number;
    echoes: number;
    parallel: { copies: number; runs: number };
    cipher: string;
    peers: { sshBytes: number; bulkRuns: number; setupRuns: number; revokeRuns: number };
  };
  version: { ms: number[] };
  setup: { direct: number[]; jump: number[]; wicket: number[] };
  streams: StreamsResult[];
  fairness: FairnessResult;
  tcpBulk: TcpBulkResult;
  sshBulk: SshBulkResult;
  sshParallel: SshParallelResult;
  /** What the cryptography alone costs: AES-128-GCM on one core, by `openssl speed`. */
  floor: { aesGcmBytesPerSec: number };
  /** Through a peer node (issue 15), or why it was not measured. */
  peers: PeersResult | { skipped: string };
  /** Long links (issue 27), in a full run. */
  wan?: WanResult;
  sizes: Record<string, number>;
}

/** Everything the table, the targets and the chart show, computed once. */
export function derive(r: BenchResults) {
  const rates = (bytes: number, ms: number[]) => ms.map((m) => mibPerSec(bytes, m));
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
  const ssh = {
    direct: rates(r.sshBulk.bytes, r.sshBulk.ms.direct),
    jump: rates(r.sshBulk.bytes, r.sshBulk.ms.jump),
    wicket: rates(r.sshBulk.bytes, r.sshBulk.ms.wicket),
  };
  const tcp = (dir: "up" | "down") => ({ direct: rates(r.tcpBulk.bytes, r.tcpBulk[dir].direct), wicket: rates(r.tcpBulk.bytes, r.tcpBulk[dir].wicket) });
  const up = tcp("up");
  const down = tcp("down");
  const setup = { direct: summarize(r.setup.direct), jump: summarize(r.setup.jump), wicket: summarize(r.setup.wicket) };
  const perStream = (s: StreamsResult) => ({
    ...s,
    edgePerStreamKiB: (s.edgeKiB.open - s.edgeKiB.before) / s.streams,
    connectorPerStreamKiB: (s.connectorKiB.open - s.connectorKiB.before) / s.streams,
  });
  const peers = (p: PeersResult) => {
    const bulk = { node1: rates(p.bulkBytes, p.bulkMs["node 1"]), node2: rates(p.bulkBytes, p.bulkMs["node 2"]) };
    const setup = { node1: summarize(p.setup["node 1"]), node2: summarize(p.setup["node 2"]) };
    return {
      bulk: { node1: summarize(bulk.node1), node2: summarize(bulk.node2), ratio: summarize(ratios(bulk.node2, bulk.node1)) },
      setup: { ...setup, addedMs: setup.node2.median - setup.node1.median, addedP95Ms: setup.node2.p95 - setup.node1.p95 },
      revoke: { token: summarize(p.revokeToCutMs.token), session: summarize(p.revokeToCutMs.session), all: summarize([...p.revokeToCutMs.token, ...p.revokeToCutMs.session]) },
    };
  };
  const par = { direct: rates(r.sshParallel.bytes, r.sshParallel.ms.direct), wicket: rates(r.sshParallel.bytes, r.sshParallel.ms.wicket) };
  const aesSecondsPerGiB = GiB / r.floor.aesGcmBytesPerSec;
  return {
    parallel: { direct: summarize(par.direct), wicket: summarize(par.wicket), ratio: summarize(ratios(par.wicket, par.direct)) },
    /** CPU seconds per GiB that AES-GCM alone takes in a process, by its passes. */
    floor: { aesSecondsPerGiB, of: (process: string) => (AES_PASSES[process] ?? NaN) * aesSecondsPerGiB },
    ssh: {
      direct: summarize(ssh.direct),
      jump: summarize(ssh.jump),
      wicket: summarize(ssh.wicket),
      vsJump: summarize(ratios(ssh.wicket, ssh.jump)),
      vsDirect: summarize(ratios(ssh.wicket, ssh.direct)),
      jumpVsDirect: summarize(ratios(ssh.jump, ssh.direct)),
    },
    up: { direct: summarize(up.direct), wicket: summarize(up.wicket), ratio: summarize(ratios(up.wicket, up.direct)) },
    down: { direct: summarize(down.direct), wicket: summarize(down.wicket), ratio: summarize(ratios(down.wicket, down.direct)) },
    setup: { ...setup, overheadMs: setup.wicket.median - setup.direct.median, overheadP95Ms: setup.wicket.p95 - setup.direct.p95 },
    version: summarize(r.version.ms),
    streams: r.streams.map(perStream),
    echo: { idle: summarize(r.fairness.idleMs), loaded: summarize(r.fairness.loadedMs), bulkMiBs: r.fairness.bulkMiBs },
    peers: "skipped" in r.peers ? { skipped: r.peers.skipped } : peers(r.peers),
  };
}
export type Derived = ReturnType<typeof derive>;
type PeersDerived = Exclude<Derived["peers"], { skipped: string }>;

// ---- targets --------------------------------------------------------------------------

export type Verdict = "aim" | "must" | "not met" | "not measured";

export interface Target {
  name: string;
  must: string;
  aim: string;
  measured: string;
  verdict: Verdict;
}

const verdict = (must: boolean, aim: boolean): Verdict => (aim && must ? "aim" : must ? "must" : "not met");

/** The targets (issue 17's for speed, 15's for the cluster), each against this run's figure. */
export function targets(r: BenchResults, d: Derived): Target[] {
  const x = (v: number) => `${v.toFixed(2)}×`;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const out: Target[] = [
    { name: "SSH bulk throughput vs `ssh -J` jump host", must: "≥ 1.5×", aim: "≥ 2×", measured: x(d.ssh.vsJump.median), verdict: verdict(d.ssh.vsJump.median >= 1.5, d.ssh.vsJump.median >= 2) },
    { name: "SSH bulk throughput vs direct ssh", must: "≥ 0.5×", aim: "≥ 0.8×", measured: x(d.ssh.vsDirect.median), verdict: verdict(d.ssh.vsDirect.median >= 0.5, d.ssh.vsDirect.median >= 0.8) },
    { name: "raw TCP bulk vs direct loopback TCP, upload", must: "≥ 0.2×", aim: "≥ 0.3×", measured: x(d.up.ratio.median), verdict: verdict(d.up.ratio.median >= 0.2, d.up.ratio.median >= 0.3) },
    { name: "raw TCP bulk vs direct loopback TCP, download", must: "≥ 0.2×", aim: "≥ 0.3×", measured: x(d.down.ratio.median), verdict: verdict(d.down.ratio.median >= 0.2, d.down.ratio.median >= 0.3) },
    { name: "`ssh H true` overhead vs direct, median", must: "≤ 50 ms", aim: "≤ 15 ms", measured: ms(d.setup.overheadMs), verdict: verdict(d.setup.overheadMs <= 50, d.setup.overheadMs <= 15) },
    { name: "`wicket --version` median", must: "≤ 60 ms", aim: "≤ 20 ms", measured: ms(d.version.median), verdict: verdict(d.version.median <= 60, d.version.median <= 20) },
  ];
  const thousand = d.streams.find((s) => s.streams === 1000);
  const tenThousand = d.streams.find((s) => s.streams === 10_000);
  const streamsText = (s: (typeof d.streams)[number]) => `${s.verified}/${s.streams} right, ${s.edgePerStreamKiB.toFixed(1)} KiB edge memory per stream`;
  const largest = d.streams.at(-1);
  const twentyThousand = d.streams.find((s) => s.streams === 20_000);
  const allRight = (s: (typeof d.streams)[number] | undefined) => !!s && s.verified === s.streams;
  out.push({
    name: "10,000 concurrent streams",
    must: "all bytes right, none reset",
    aim: "20,000 all right; ≤ 16 KiB edge memory per stream",
    measured: thousand || tenThousand ? [thousand, tenThousand, twentyThousand].filter(Boolean).map((s) => streamsText(s!)).join("; ") : largest ? `(quick: ${streamsText(largest)})` : "—",
    verdict: !tenThousand ? "not measured" : verdict(allRight(tenThousand), allRight(twentyThousand) && twentyThousand!.edgePerStreamKiB <= 16),
  });
  const p99 = d.echo.loaded.p99;
  out.push({ name: "echo p99 under a bulk copy on the same connector", must: "≤ 10 ms", aim: "≤ 5 ms", measured: ms(p99), verdict: verdict(p99 <= 10, p99 <= 5) });
  // issue 15 names one figure for each, which is the must; it names no aim
  const p = d.peers;
  const peerTargets: [name: string, must: string, measured: (p: PeersDerived) => number, met: (v: number) => boolean, show: (v: number) => string][] = [
    ["SSH bulk through a peer node vs the direct node", "≥ 0.7×", (p) => p.bulk.ratio.median, (v) => v >= 0.7, x],
    ["`ssh H true` added by a peer node, median", "≤ 10 ms", (p) => p.setup.addedMs, (v) => v <= 10, ms],
    ["revoke through one node to the cut on another, median", "≤ 200 ms", (p) => p.revoke.all.median, (v) => v <= 200, ms],
  ];
  for (const [name, must, measured, met, show] of peerTargets) {
    if ("skipped" in p) out.push({ name, must, aim: "—", measured: "skipped (no PostgreSQL; see the table)", verdict: "not measured" });
    else out.push({ name, must, aim: "—", measured: show(measured(p)), verdict: verdict(met(measured(p)), false) });
  }
  if (r.wan) out.push(...wanTargets(deriveWan(r.wan)));
  return out;
}

// ---- the table ------------------------------------------------------------------------

type Row = { section: string } | { label: string; median: string; range: string };

const range = (s: Summary, f: (v: number) => string) => `${f(s.min)}–${f(s.max)}`;
const int = (v: number) => v.toFixed(0);
const one = (v: number) => v.toFixed(1);
const two = (v: number) => v.toFixed(2);
const size = (bytes: number) => (bytes >= 1024 * MiB ? `${bytes / 1024 / MiB} GiB` : `${bytes / MiB} MiB`);

function rows(r: BenchResults, d: Derived): Row[] {
  const rate = (label: string, s: Summary): Row => ({ label, median: `${int(s.median)} MiB/s`, range: range(s, int) });
  const ratio = (label: string, s: Summary): Row => ({ label, median: `${two(s.median)}×`, range: range(s, two) });
  const time = (label: string, s: Summary): Row => ({ label, median: `${one(s.median)} ms`, range: `${range(s, one)}, p95 ${one(s.p95)}` });
  const kib = (label: string, v: number): Row => ({ label, median: `${(v / 1024).toFixed(1)} MiB`, range: "" });
  const cpuRow = (label: string, process: string, v: number): Row => {
    const floor = d.floor.of(process);
    return { label, median: `${two(v)} s`, range: `AES-GCM floor ${two(floor)} s (${AES_PASSES[process]} pass${AES_PASSES[process] === 1 ? "" : "es"}), ${(v / floor).toFixed(1)}× it` };
  };
  const out: Row[] = [
    { section: `SSH bulk: ${size(r.sshBulk.bytes)} through \`ssh H 'cat > /dev/null'\`, ${r.params.cipher}, ${r.params.bulkRuns} runs each` },
    rate("direct ssh", d.ssh.direct),
    rate("ssh -J (OpenSSH jump host)", d.ssh.jump),
    rate("wicket", d.ssh.wicket),
    ratio("wicket ÷ jump host", d.ssh.vsJump),
    ratio("wicket ÷ direct", d.ssh.vsDirect),
    ratio("jump host ÷ direct", d.ssh.jumpVsDirect),
    { section: `SSH bulk, ${r.sshParallel.copies} copies at once: ${size(r.sshParallel.bytes)} in all through one connector (${size(r.sshParallel.bytes / r.sshParallel.copies)} each), ${r.params.parallel.runs} runs each` },
    rate("direct ssh, all copies together", d.parallel.direct),
    rate("wicket, all copies together", d.parallel.wicket),
    ratio("wicket ÷ direct", d.parallel.ratio),
    { section: `raw TCP bulk: ${size(r.tcpBulk.bytes)} through \`wicket access tcp\` vs direct loopback TCP, ${r.params.bulkRuns} runs each` },
    rate("upload, direct", d.up.direct),
    rate("upload, wicket", d.up.wicket),
    ratio("upload, wicket ÷ direct", d.up.ratio),
    rate("download, direct", d.down.direct),
    rate("download, wicket", d.down.wicket),
    ratio("download, wicket ÷ direct", d.down.ratio),
    { section: `connection setup: \`ssh H true\`, ${r.params.setupRuns} runs each; start-up: \`wicket --version\`, ${r.params.versionRuns} runs` },
    time("direct ssh", d.setup.direct),
    time("ssh -J", d.setup.jump),
    time("wicket (service token)", d.setup.wicket),
    { label: "wicket overhead (median − median)", median: `${one(d.setup.overheadMs)} ms`, range: `p95 − p95: ${one(d.setup.overheadP95Ms)} ms` },
    time("wicket --version", d.version),
    ...peerRows(r, d),
    ...(r.wan ? wanRows(r.wan, deriveWan(r.wan)) : []),
  ];
  for (const s of d.streams) {
    out.push(
      { section: `many streams: ${s.streams} concurrent echo streams through one connector, ${s.bytesEach / 1024} KiB each` },
      { label: "streams whose bytes all came back right", median: `${s.verified} / ${s.streams}`, range: `all open in ${(s.openMs / 1000).toFixed(1)} s${s.firstFailure ? `; first failure: ${s.firstFailure}` : ""}` },
      { label: "edge memory per open stream", median: `${one(s.edgePerStreamKiB)} KiB`, range: `RSS ${int(s.edgeKiB.before / 1024)} → ${int(s.edgeKiB.open / 1024)} MiB` },
      { label: "connector memory per open stream", median: `${one(s.connectorPerStreamKiB)} KiB`, range: `RSS ${int(s.connectorKiB.before / 1024)} → ${int(s.connectorKiB.open / 1024)} MiB` },
    );
  }
  out.push(
    { section: `fairness: ${r.params.echoes} round trips of 64 bytes on one stream (median, p99)` },
    { label: "alone on the connector", median: `${two(d.echo.idle.median)} ms`, range: `p99 ${two(d.echo.idle.p99)} ms` },
    { label: "beside a bulk copy on the same connection", median: `${two(d.echo.loaded.median)} ms`, range: `p99 ${two(d.echo.loaded.p99)} ms` },
    { label: "the bulk copy meanwhile", median: `${int(d.echo.bulkMiBs)} MiB/s`, range: "" },
    { section: "peak resident memory (VmHWM) during the bulk runs" },
    ...Object.entries(r.sshBulk.peakKiB).map(([p, v]) => kib(`${p}, SSH bulk`, v)),
    ...Object.entries(r.tcpBulk.peakKiB).map(([p, v]) => kib(`${p}, TCP bulk`, v)),
    {
      section: `CPU time per GiB through wicket (user + system; 2 cores bound the sum), beside its AES-GCM floor: AES-128-GCM at ${(r.floor.aesGcmBytesPerSec / 1e9).toFixed(2)} GB/s on one core (openssl speed, this run) is ${two(d.floor.aesSecondsPerGiB)} s per GiB a pass, ${two(4 * d.floor.aesSecondsPerGiB)} s for the 4 passes a byte takes`,
    },
    ...Object.entries(r.sshBulk.cpuPerGiB).map(([p, v]) => cpuRow(`${p}, SSH bulk`, p, v)),
    ...Object.entries(r.sshParallel.cpuPerGiB).map(([p, v]) => cpuRow(`${p}, SSH bulk, ${r.sshParallel.copies} copies at once`, p, v)),
    ...Object.entries(r.tcpBulk.cpuPerGiB).map(([p, v]) => cpuRow(`${p}, TCP bulk`, p, v)),
    { section: "binary size" },
    ...Object.entries(r.sizes)
      .filter(([name]) => name === "wicket")
      .map(([name, bytes]): Row => ({ label: `dist/${name}`, median: `${(bytes / MiB).toFixed(1)} MiB`, range: "" })),
  );
  return out;
}

/** Through a peer node: three edge nodes on one PostgreSQL database, the connector on node 1. */
function peerRows(r: BenchResults, d: Derived): Row[] {
  const p = d.peers;
  if ("skipped" in p || "skipped" in r.peers) return [{ section: `through a peer node: skipped (${"skipped" in p ? p.skipped : "?"})` }];
  const raw = r.peers;
  const rate = (label: string, s: Summary): Row => ({ label, median: `${int(s.median)} MiB/s`, range: range(s, int) });
  const time = (label: string, s: Summary): Row => ({ label, median: `${one(s.median)} ms`, range: `${range(s, one)}, p95 ${one(s.p95)}` });
  const q = r.params.peers;
  return [
    {
      section: `through a peer node: three edge nodes on one PostgreSQL database, the connector on node 1; clients at node 1 (direct) and at node 2 (forwarded over its peer link to node 1), in turns`,
    },
    rate(`SSH bulk ${size(raw.bulkBytes)}, direct node (${q.bulkRuns} runs)`, p.bulk.node1),
    rate("SSH bulk, through a peer node", p.bulk.node2),
    { label: "through a peer node ÷ direct node", median: `${two(p.bulk.ratio.median)}×`, range: range(p.bulk.ratio, two) },
    time(`\`ssh H true\`, direct node (${q.setupRuns} runs)`, p.setup.node1),
    time("`ssh H true`, through a peer node", p.setup.node2),
    { label: "added by the peer node (median − median)", median: `${one(p.setup.addedMs)} ms`, range: `p95 − p95: ${one(p.setup.addedP95Ms)} ms` },
    time(`\`edge token revoke\` through node 3 → session on node 2 cut (${q.revokeRuns} runs)`, p.revoke.token),
    time("`edge session revoke` through node 3 → session on node 2 cut", p.revoke.session),
  ];
}

export function textReport(r: BenchResults, d: Derived, t: Target[]): string {
  const rs = rows(r, d);
  const w = Math.max(...rs.map((x) => ("label" in x ? x.label.length : 0)));
  const wm = Math.max(...rs.map((x) => ("median" in x ? x.median.length : 0)));
  const lines = [
    `${r.mode} run: ${machineLine(r)}; other processes took ${Math.round(r.machine.othersCpuShare * 100)} % of the CPU meanwhile`,
    ...rs.map((x) => ("section" in x ? `\n${x.section}` : `  ${x.label.padEnd(w)}  ${x.median.padStart(wm)}  ${x.range}`.trimEnd())),
  ];
  const tw = Math.max(...t.map((x) => x.name.length));
  const mark = (v: Verdict) => (v === "aim" ? "met, aim too" : v === "must" ? "met" : v === "not met" ? "NOT MET" : v);
  lines.push("\ntargets (issues 17 and 15): measured, must / aim", ...t.map((x) => `  ${x.name.padEnd(tw)}  ${x.measured}  (${x.must} / ${x.aim})  ${mark(x.verdict)}`));
  return `${lines.join("\n")}\n`;
}

function footer(r: BenchResults): string[] {
  const m = r.machine;
  return [`${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}`, `wicket ${r.software.wicket}, Bun ${r.software.bun}, ${r.software.openssh}; ${r.date.slice(0, 10)}; bun run bench${r.mode === "quick" ? " --quick" : ""}`];
}

export function machineLine(r: BenchResults): string {
  const m = r.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os} (Linux ${m.kernel}); wicket ${r.software.wicket}, Bun ${r.software.bun}, ${r.software.openssh}; ${r.date.slice(0, 10)}`;
}

/** The first lines of a full run's report: the machine, and the targets with their verdicts.
 * `docs`: where docs/ is from the page it goes in ("docs/" from README.md, "" from docs/). */
export function headlineReport(r: BenchResults, t: Target[], docs: string): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const mark = (v: Verdict) => (v === "aim" ? "✅ met, aim too" : v === "must" ? "✅ met" : v === "not met" ? "❌ not met" : v);
  return [
    `Measured with \`bun run bench\` on ${machineLine(r)}, load average ${r.machine.loadAtStart.map((l) => l.toFixed(2)).join(" ")} at the start, other processes took ${Math.round(r.machine.othersCpuShare * 100)} % of the CPU meanwhile; the run took ${Math.round(r.durationS)} s. Raw figures: [${docs}bench/latest.json](${docs}bench/latest.json).`,
    "",
    "| target | must reach | aim | measured | |",
    "|---|---|---|---|---|",
    ...t.map((x) => `| ${esc(x.name)} | ${esc(x.must)} | ${esc(x.aim)} | ${esc(x.measured)} | ${mark(x.verdict)} |`),
  ].join("\n") + "\n";
}

/** The whole report, for docs/performance.md: the headline, the chart and every measurement. */
export function markdownReport(r: BenchResults, d: Derived, t: Target[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const out = [
    headlineReport(r, t, ""),
    "![wicket against direct connections and an OpenSSH jump host](bench/chart.svg)",
    "",
    "| measurement | median | min–max, notes |",
    "|---|---:|---|",
    ...rows(r, d).map((x) => ("section" in x ? `| **${esc(x.section)}** | | |` : `| ${esc(x.label)} | ${esc(x.median)} | ${esc(x.range)} |`)),
  ];
  return `${out.join("\n")}\n`;
}

// ---- the chart ------------------------------------------------------------------------

interface Bar {
  label: string;
  value: number;
  min?: number;
  max?: number;
  ours?: boolean;
  /** After the value: the ratio to the peers. */
  note?: string;
}
interface Panel {
  title: string;
  unit: string;
  bars: Bar[];
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Horizontal bars with min–max whiskers, one panel per measurement, wicket in colour. */
export function chartSvg(r: BenchResults, d: Derived): string {
  const bar = (label: string, s: Summary, note?: string): Bar => ({ label, value: s.median, min: s.min, max: s.max, ours: note !== undefined, note });
  const x = (s: Summary) => `${s.median.toFixed(2)}×`;
  const panels: Panel[] = [
    {
      title: `SSH bulk, ${size(r.sshBulk.bytes)} through ssh H 'cat > /dev/null' (higher is better)`,
      unit: "MiB/s",
      bars: [bar("direct ssh", d.ssh.direct), bar("ssh -J jump host", d.ssh.jump), bar("wicket", d.ssh.wicket, `${x(d.ssh.vsJump)} jump host, ${x(d.ssh.vsDirect)} direct`)],
    },
    { title: `raw TCP upload, ${size(r.tcpBulk.bytes)} (higher is better)`, unit: "MiB/s", bars: [bar("direct TCP", d.up.direct), bar("wicket access tcp", d.up.wicket, `${x(d.up.ratio)} direct`)] },
    { title: `raw TCP download, ${size(r.tcpBulk.bytes)} (higher is better)`, unit: "MiB/s", bars: [bar("direct TCP", d.down.direct), bar("wicket access tcp", d.down.wicket, `${x(d.down.ratio)} direct`)] },
    {
      title: "connection setup, ssh H true (lower is better)",
      unit: "ms",
      bars: [bar("direct ssh", d.setup.direct), bar("ssh -J jump host", d.setup.jump), bar("wicket", d.setup.wicket, `${d.setup.overheadMs >= 0 ? "+" : "−"}${Math.abs(d.setup.overheadMs).toFixed(1)} ms over direct`)],
    },
    ...("skipped" in d.peers
      ? []
      : [
          {
            title: `SSH bulk through a peer node, ${size((r.peers as PeersResult).bulkBytes)}, edge nodes on PostgreSQL (higher is better)`,
            unit: "MiB/s",
            bars: [bar("client at node 1", d.peers.bulk.node1), bar("client at node 2", d.peers.bulk.node2, `forwarded to node 1: ${x(d.peers.bulk.ratio)} direct`)],
          },
        ]),
    {
      title: "64-byte echo round trip on one stream, p99 (lower is better)",
      unit: "ms",
      bars: [
        { label: "alone", value: d.echo.idle.p99, ours: true },
        { label: "beside a bulk copy", value: d.echo.loaded.p99, ours: true, note: `same connector, copying at ${d.echo.bulkMiBs.toFixed(0)} MiB/s` },
      ],
    },
  ];
  const W = 800;
  const labelW = 170;
  const barH = 18;
  const gap = 6;
  const out: string[] = [];
  let y = 44;
  for (const p of panels) {
    out.push(`<text x="16" y="${y}" class="t">${xml(p.title)}</text>`);
    y += 10;
    const top = Math.max(...p.bars.map((b) => b.max ?? b.value)) || 1;
    const label = (b: Bar) => `${b.value >= 100 ? b.value.toFixed(0) : b.value.toFixed(1)} ${p.unit}${b.note ? ` (${b.note})` : ""}`;
    // as long as every bar and its label (about 6.5 px a character) still fit
    const barW = Math.min(460, ...p.bars.map((b) => (W - labelW - 24 - label(b).length * 6.5) / ((b.max ?? b.value) / top || 1)));
    const scale = (v: number) => (Number.isFinite(v) ? (v / top) * barW : 0);
    for (const b of p.bars) {
      const w = Math.max(1, scale(b.value));
      const cy = y + barH / 2;
      out.push(`<text x="${labelW - 8}" y="${cy + 4}" text-anchor="end">${xml(b.label)}</text>`);
      out.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" class="${b.ours ? "ours" : "peer"}"/>`);
      if (b.min !== undefined && b.max !== undefined && b.max > b.min) {
        const [x1, x2] = [labelW + scale(b.min), labelW + scale(b.max)];
        out.push(`<path d="M${x1.toFixed(1)} ${cy}H${x2.toFixed(1)}M${x1.toFixed(1)} ${cy - 4}v8M${x2.toFixed(1)} ${cy - 4}v8" class="w"/>`);
      }
      const right = labelW + Math.max(w, b.max !== undefined ? scale(b.max) : 0);
      out.push(`<text x="${(right + 6).toFixed(1)}" y="${cy + 4}">${xml(label(b))}</text>`);
      y += barH + gap;
    }
    y += 22;
  }
  const H = y + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    "<style>text{fill:#212529}.t{font-weight:600}.h{font-size:14px;font-weight:700}.s{fill:#6c757d;font-size:11px}.ours{fill:#e8590c}.peer{fill:#adb5bd}.w{stroke:#212529;stroke-width:1.2;fill:none}</style>",
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="20" class="h">wicket vs direct connections and an OpenSSH jump host (medians; whiskers: min–max)</text>`,
    ...footer(r).map((line, i) => `<text x="16" y="${H - 26 + i * 15}" class="s">${xml(line)}</text>`),
    ...out,
    "</svg>",
    "",
  ].join("\n");
}

// The long-link rows (scripts/bench/wan.ts) as people read them: rates, ratios against the same
// links without wicket (and `ssh -J`), and issue 27's targets.
import type { WanResult, WanRow } from "./wan.ts";
import { mibPerSec, MiB, summarize, type Summary } from "./stats.ts";

export interface WanTarget {
  name: string;
  must: string;
  aim: string;
  measured: string;
  verdict: "aim" | "must" | "not met";
}

export type WanTableRow = { section: string } | { label: string; median: string; range: string };

function deriveRow(r: WanRow, plan: WanResult["plan"]) {
  const rates = (bytes: number, ms: number[]) => ms.map((m) => mibPerSec(bytes, m));
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
  const pair = (p: { direct: number[]; wicket: number[] }, bytes: number) => {
    const d = rates(bytes, p.direct);
    const w = rates(bytes, p.wicket);
    return { direct: summarize(d), wicket: summarize(w), ratio: summarize(ratios(w, d)) };
  };
  const jump = rates(plan.sshBytes, r.ssh.jump);
  const wicket = rates(plan.sshBytes, r.ssh.wicket);
  return {
    rttMs: r.rttMs,
    up: pair(r.up, plan.tcpBytes),
    down: pair(r.down, plan.tcpBytes),
    manyUp: pair(r.manyUp, plan.tcpBytes),
    manyDown: pair(r.manyDown, plan.tcpBytes),
    ssh: { jump: summarize(jump), wicket: summarize(wicket), ratio: summarize(ratios(wicket, jump)) },
    echo: { idle: summarize(r.echo.idleMs), loaded: summarize(r.echo.loadedMs), links: r.echo.linksLoadedMs && summarize(r.echo.linksLoadedMs) },
  };
}

export const deriveWan = (w: WanResult) => w.rows.map((r) => deriveRow(r, w.plan));
export type WanDerived = ReturnType<typeof deriveWan>;

const verdict = (must: boolean, aim: boolean): WanTarget["verdict"] => (must && aim ? "aim" : must ? "must" : "not met");
/** A ratio to two places, rounded down: 0.897 is not shown as the 0.90 it misses. */
const down2 = (v: number) => (Math.floor(v * 100 + 1e-6) / 100).toFixed(2);
const x = (v: number) => `${down2(v)}×`;

/** Issue 27's targets, each against the worse direction where there are two. */
export function wanTargets(d: WanDerived): WanTarget[] {
  const out: WanTarget[] = [];
  const at = (rtt: number) => d.find((r) => r.rttMs === rtt);
  const oneStream = (rtt: number, must: number, aim: number) => {
    const r = at(rtt);
    if (!r) return;
    const v = Math.min(r.up.ratio.median, r.down.ratio.median);
    out.push({ name: `one \`access tcp\` stream vs the same links without wicket, ${rtt} ms, each way`, must: `≥ ${must}×`, aim: `≥ ${aim}×`, measured: `up ${x(r.up.ratio.median)}, down ${x(r.down.ratio.median)}`, verdict: verdict(v >= must, v >= aim) });
  };
  oneStream(100, 0.8, 0.9);
  oneStream(40, 0.9, 0.95);
  const r100 = at(100);
  if (r100) {
    const v = Math.min(r100.manyUp.ratio.median, r100.manyDown.ratio.median);
    out.push({ name: "4 streams at once vs the same links without wicket, 100 ms", must: "≥ 0.9×", aim: "≥ 0.95×", measured: `up ${x(r100.manyUp.ratio.median)}, down ${x(r100.manyDown.ratio.median)}`, verdict: verdict(v >= 0.9, v >= 0.95) });
  }
  const sshWorst = Math.min(...d.map((r) => r.ssh.ratio.median));
  out.push({ name: "SSH bulk vs `ssh -J` over the same links", must: "≥ 1.0×", aim: "≥ 1.1×", measured: d.map((r) => `${r.rttMs} ms ${x(r.ssh.ratio.median)}`).join(", "), verdict: verdict(sshWorst >= 1.0, sshWorst >= 1.1) });
  if (r100) {
    const over = r100.echo.loaded.p99 - 100;
    out.push({ name: "echo p99 beside a bulk copy, 100 ms", must: "≤ round trip + 20 ms", aim: "≤ round trip + 5 ms", measured: `${r100.echo.loaded.p99.toFixed(1)} ms (+${over.toFixed(1)})`, verdict: verdict(over <= 20, over <= 5) });
  }
  return out;
}

export function wanRows(w: WanResult, d: WanDerived): WanTableRow[] {
  const p = w.plan;
  const size = (b: number) => `${b / MiB} MiB`;
  const rate = (label: string, s: Summary): WanTableRow => ({ label, median: `${s.median.toFixed(0)} MiB/s`, range: `${s.min.toFixed(0)}–${s.max.toFixed(0)}` });
  const ratio = (label: string, s: Summary): WanTableRow => ({ label, median: x(s.median), range: `${down2(s.min)}–${down2(s.max)}` });
  const out: WanTableRow[] = [];
  for (const r of d) {
    out.push(
      { section: `long links, ${r.rttMs} ms round trip: two ${p.mbit} Mbit/s delay lines (client–edge, edge–connector), ${p.runs} runs each; without wicket: TCP through the same two links` },
      rate(`one stream up (${size(p.tcpBytes)}), links alone`, r.up.direct),
      rate("one stream up, wicket", r.up.wicket),
      ratio("one stream up, wicket ÷ links alone", r.up.ratio),
      rate("one stream down, links alone", r.down.direct),
      rate("one stream down, wicket", r.down.wicket),
      ratio("one stream down, wicket ÷ links alone", r.down.ratio),
      ratio(`${p.streams} streams at once up (${size(p.tcpBytes)} in all), wicket ÷ links alone`, r.manyUp.ratio),
      ratio(`${p.streams} streams at once down, wicket ÷ links alone`, r.manyDown.ratio),
      rate(`SSH bulk ${size(p.sshBytes)}, ssh -J`, r.ssh.jump),
      rate("SSH bulk, wicket", r.ssh.wicket),
      ratio("SSH bulk, wicket ÷ ssh -J", r.ssh.ratio),
      { label: "64-byte echo alone (median, p99)", median: `${r.echo.idle.median.toFixed(1)} ms`, range: `p99 ${r.echo.idle.p99.toFixed(1)} ms` },
      { label: "64-byte echo beside a bulk upload on another stream", median: `${r.echo.loaded.median.toFixed(1)} ms`, range: `p99 ${r.echo.loaded.p99.toFixed(1)} ms` },
      ...(r.echo.links ? [{ label: "the same, links alone (a TCP echo beside a TCP upload)", median: `${r.echo.links.median.toFixed(1)} ms`, range: `p99 ${r.echo.links.p99.toFixed(1)} ms` }] : []),
    );
  }
  return out;
}

/** The long-link rows alone (`bun run bench --wan`), as text or Markdown. */
export function wanReport(w: WanResult, header: string, markdown: boolean): string {
  const d = deriveWan(w);
  const t = wanTargets(d);
  const rows = wanRows(w, d);
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const mark = (v: WanTarget["verdict"]) => (v === "aim" ? "met, aim too" : v === "must" ? "met" : "NOT MET");
  if (markdown) {
    return [
      header,
      "",
      "| target | must reach | aim | measured | |",
      "|---|---|---|---|---|",
      ...t.map((x) => `| ${esc(x.name)} | ${esc(x.must)} | ${esc(x.aim)} | ${esc(x.measured)} | ${mark(x.verdict)} |`),
      "",
      "| measurement | median | min–max, notes |",
      "|---|---:|---|",
      ...rows.map((x) => ("section" in x ? `| **${esc(x.section)}** | | |` : `| ${esc(x.label)} | ${esc(x.median)} | ${esc(x.range)} |`)),
      "",
    ].join("\n");
  }
  const w1 = Math.max(...rows.map((x) => ("label" in x ? x.label.length : 0)));
  return [
    header,
    ...rows.map((x) => ("section" in x ? `\n${x.section}` : `  ${x.label.padEnd(w1)}  ${x.median.padStart(10)}  ${x.range}`)),
    "\ntargets (issue 27): measured, must / aim",
    ...t.map((x) => `  ${x.name}: ${x.measured}  (${x.must} / ${x.aim})  ${mark(x.verdict)}`),
    "",
  ].join("\n");
}

// Long links (issue 27): the same client, edge and connector as the loopback rows, with a
// delay line (scripts/bench/delay-line.ts) between the client and the edge (link A) and another
// between the edge and the connector (link B), each carrying half the round trip. Beside
// wicket, in turns: the same two links in a row without it (TCP through A, then B, to the
// origin), and `ssh -J` with A before the jump host and B after it. Each round trip gets fresh
// links and connectors, so nothing measured at one is remembered at the next.
import { readFile, writeFile } from "node:fs/promises";
import { download, upload } from "../../test/helpers/origin.ts";
import { freePort } from "../../test/helpers/ports.ts";
import { spawnProc, type Proc } from "../../test/helpers/proc.ts";
import { WICKET, type ServiceToken } from "../../test/helpers/wicket.ts";
import { echoStream, sshCat, tcpEcho, timed, zeros } from "./measure.ts";
import { CIPHER, ORIGIN_SCRIPT, type Rig } from "./rig.ts";
import { MiB } from "./stats.ts";

export const WAN_TCP_HOST = "wan-tcp.bench.test";
export const WAN_SSH_HOST = "wan-ssh.bench.test";
const DELAY_LINE = `${import.meta.dir}/delay-line.ts`;

export interface WanPlan {
  rttsMs: number[];
  mbit: number;
  tcpBytes: number;
  sshBytes: number;
  streams: number;
  runs: number;
  echoes: number;
}

type Pair = { direct: number[]; wicket: number[] };

export interface WanRow {
  rttMs: number;
  /** One stream each way: ms per transfer of `tcpBytes`, through the links alone and through wicket. */
  up: Pair;
  down: Pair;
  /** `streams` at once, `tcpBytes` in all: ms until the last one ended. */
  manyUp: Pair;
  manyDown: Pair;
  /** `ssh H 'cat > /dev/null'` of `sshBytes`: ms through `ssh -J` and through wicket. */
  ssh: { jump: number[]; wicket: number[] };
  /** 64-byte echo round trips on one stream, alone and beside an upload on another stream; and
   * through the links alone, a TCP echo beside a TCP upload (what the links themselves add). */
  echo: { idleMs: number[]; loadedMs: number[]; linksLoadedMs?: number[] };
}

export interface WanResult {
  plan: WanPlan;
  rows: WanRow[];
}

/** One delay line with its routes (name → target port); resolves with each route's port. */
async function delayLine(name: string, oneWayMs: number, mbit: number, routes: Record<string, number>) {
  const proc = spawnProc([process.execPath, DELAY_LINE, "--one-way-ms", String(oneWayMs), "--mbit", String(mbit), ...Object.entries(routes).map(([r, p]) => `${r}=${p}`)], { name, stdin: "pipe" });
  const ports: Record<string, number> = {};
  for (const r of Object.keys(routes)) ports[r] = Number((await proc.waitForLine(new RegExp(`delay line: ${r} listening on 127\\.0\\.0\\.1 port (\\d+)`), { stream: "stdout" }))[1]);
  return { proc, ports };
}

interface WanPaths extends AsyncDisposable {
  /** Upload/download ports: through both links to the origin, and `access tcp` through wicket. */
  tcp: { direct: number; wicket: number };
  ssh: { jump: { name: string; args: string[] }; wicket: { name: string; args: string[] } };
  /** Where a client reaches the edge through link A. */
  edgeUrl: string;
}

/** The links for one round trip, and connectors and `access tcp` that use them. */
async function startPaths(rig: Rig, tokens: { tcp: ServiceToken; ssh: ServiceToken }, rttMs: number, mbit: number): Promise<WanPaths> {
  const procs: Proc[] = [];
  const dispose = async () => void (await Promise.all(procs.reverse().map((p) => p.stop())));
  try {
    const oneWay = rttMs / 4; // each link is half the round trip
    const b = await delayLine("link B", oneWay, mbit, { edge: rig.edge.port, origin: rig.origin.port, sshd: rig.sshd.port });
    procs.push(b.proc);
    const a = await delayLine("link A", oneWay, mbit, { edge: rig.edge.port, chain: b.ports.origin!, jump: rig.jump.port });
    procs.push(a.proc);
    const one = ["--ha-connections", "1", "--edge", `https://127.0.0.1:${b.ports.edge}`];
    procs.push(await rig.edge.tunnel(WAN_TCP_HOST, `tcp://127.0.0.1:${rig.origin.port}`, one), await rig.edge.tunnel(WAN_SSH_HOST, `ssh://127.0.0.1:${rig.sshd.port}`, one));
    const edgeUrl = `https://127.0.0.1:${a.ports.edge}`;
    const via = (host: string, t: ServiceToken) => ["--hostname", host, "--edge", edgeUrl, "--ca-file", rig.edge.caFile, "--id", t.id, "--secret", t.secret];
    const port = freePort();
    const access = spawnProc([WICKET, "access", "tcp", "--url", `127.0.0.1:${port}`, ...via(WAN_TCP_HOST, tokens.tcp)], { name: "access tcp (long links)" });
    procs.push(access);
    await access.waitForLine(new RegExp(`listening on 127\\.0\\.0\\.1:${port} `), { stream: "stderr" });

    const sshOptions = [`Ciphers ${CIPHER}`, "Compression no"];
    const proxy = [WICKET, "access", "ssh", ...via("%h", tokens.ssh)].join(" ");
    const viaWicket = await rig.sshd.client(WAN_SSH_HOST, { proxyCommand: proxy, config: sshOptions });
    // `ssh -J`: the jump host through link A, and from it the target through link B
    const jumped = await rig.sshd.client("wan-jumped.bench.test", { config: sshOptions });
    const jumpHost = await rig.jump.client("wan-jump.bench.test", { config: sshOptions });
    const config = rig.dir.join(`ssh_config.wan-${rttMs}`);
    const text = (await readFile(jumped.configFile, "utf8")).replace(`Port ${rig.sshd.port}`, `Port ${b.ports.sshd}`) + (await readFile(jumpHost.configFile, "utf8")).replace(`Port ${rig.jump.port}`, `Port ${a.ports.jump}`);
    await writeFile(config, text);
    return {
      tcp: { direct: a.ports.chain!, wicket: port },
      ssh: { jump: { name: "ssh -J", args: ["-F", config, "-J", jumpHost.host, jumped.host] }, wicket: { name: "wicket", args: [...viaWicket.args, WAN_SSH_HOST] } },
      edgeUrl,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** `n` transfers at once of `bytes / n` each; ms until the last ended. */
const many = (n: number, bytes: number, f: (bytes: number) => Promise<unknown>) => timed(() => Promise.all(Array.from({ length: n }, () => f(bytes / n))));

async function echoes(rig: Rig, paths: WanPaths, token: ServiceToken, n: number): Promise<WanRow["echo"]> {
  const payload = crypto.getRandomValues(new Uint8Array(64));
  const rtts = async (echo: (b: Uint8Array) => Promise<unknown>, count: number) => {
    const ms: number[] = [];
    for (let i = 0; i < count; i++) ms.push(await timed(() => echo(payload)));
    return ms;
  };
  /** `n` echoes while an endless upload to `port` runs. */
  const beside = async (port: number, echo: (b: Uint8Array) => Promise<unknown>) => {
    await using bulk = spawnProc([process.execPath, ORIGIN_SCRIPT, "upload", String(port), String(2 ** 50)], { name: "bulk upload (long links)" });
    await bulk.waitForLine(/^sent (\d+) bytes in (\d+) ms/, { stream: "stdout", timeoutMs: 30_000 });
    const ms = await rtts(echo, n);
    if (bulk.exitCode !== undefined) throw new Error(`the bulk copy ended during the measurement\n${bulk.output()}`);
    return ms;
  };
  const s = await echoStream(rig, { edge: paths.edgeUrl, host: WAN_TCP_HOST, token });
  const echo = (b: Uint8Array) => s.echo(b);
  await rtts(echo, 5); // warm-up
  const idleMs = await rtts(echo, Math.max(10, n / 4));
  const loadedMs = await beside(paths.tcp.wicket, echo);
  await s.close();
  const links = await tcpEcho(paths.tcp.direct);
  await rtts(links.echo, 5);
  const linksLoadedMs = await beside(paths.tcp.direct, links.echo);
  links.close();
  return { idleMs, loadedMs, linksLoadedMs };
}

async function measureRow(rig: Rig, tokens: { tcp: ServiceToken; ssh: ServiceToken }, plan: WanPlan, rttMs: number, log: (m: string) => void): Promise<WanRow> {
  await using paths = await startPaths(rig, tokens, rttMs, plan.mbit);
  const row: WanRow = { rttMs, up: { direct: [], wicket: [] }, down: { direct: [], wicket: [] }, manyUp: { direct: [], wicket: [] }, manyDown: { direct: [], wicket: [] }, ssh: { jump: [], wicket: [] }, echo: { idleMs: [], loadedMs: [] } };
  const [file, warm] = await Promise.all([zeros(rig.dir, plan.sshBytes), zeros(rig.dir, 4 * MiB)]);
  for (const p of Object.values(paths.ssh)) await sshCat(p, warm, false);
  // both ways: each direction has its own pacer and windows, and a first copy over a fresh
  // connection ramps up (the rows measure copies over a connection in use)
  for (const port of Object.values(paths.tcp)) await Promise.all([upload(port, 8 * MiB), download(port, 8 * MiB)]);
  for (let i = 0; i < plan.runs; i++) {
    log(`long links, ${rttMs} ms: round ${i + 1} of ${plan.runs}`);
    for (const path of ["direct", "wicket"] as const) {
      const port = paths.tcp[path];
      row.up[path].push((await upload(port, plan.tcpBytes)).ms);
      row.down[path].push((await download(port, plan.tcpBytes)).ms);
      row.manyUp[path].push(await many(plan.streams, plan.tcpBytes, (b) => upload(port, b)));
      row.manyDown[path].push(await many(plan.streams, plan.tcpBytes, (b) => download(port, b)));
    }
    for (const p of ["jump", "wicket"] as const) row.ssh[p].push((await sshCat(paths.ssh[p], file, false)).ms);
  }
  log(`long links, ${rttMs} ms: ${plan.echoes} echoes beside a bulk copy`);
  row.echo = await echoes(rig, paths, tokens.tcp, plan.echoes);
  return row;
}

export async function measureWan(rig: Rig, plan: WanPlan, log: (m: string) => void): Promise<WanResult> {
  const tokens = { tcp: await rig.edge.app(WAN_TCP_HOST), ssh: await rig.edge.app(WAN_SSH_HOST) };
  const rows: WanRow[] = [];
  for (const rtt of plan.rttsMs) rows.push(await measureRow(rig, tokens, plan, rtt, log));
  return { plan, rows };
}

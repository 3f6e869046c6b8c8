// A short long-link run for trying a change (not part of `bun run bench`): one round trip,
// one round, fewer bytes. WICKET_TRY_RTT (ms, default 100), WICKET_TRY_MIB (default 128),
// WICKET_TRY_RUNS (rounds, default 1).
import { loadavg } from "node:os";
import { startRig } from "./rig.ts";
import { measureWan } from "./wan.ts";
import { wanReport } from "./wan-report.ts";
import { MiB } from "./stats.ts";

const log = (m: string) => console.error(`try: ${m}`);
const rtt = Number(process.env.WICKET_TRY_RTT ?? 100);
const mib = Number(process.env.WICKET_TRY_MIB ?? 128);
const load = loadavg()[0]!.toFixed(2);
await using rig = await startRig(log);
const wan = await measureWan(rig, { rttsMs: [rtt], mbit: 1000, tcpBytes: mib * MiB, sshBytes: 32 * MiB, streams: 4, runs: Number(process.env.WICKET_TRY_RUNS ?? 1), echoes: 100 }, log);
console.log(wanReport(wan, `try at load ${load}→${loadavg()[0]!.toFixed(2)}`, false));
console.log(JSON.stringify(wan.rows[0]!.echo.loadedMs.map((x) => Math.round(x))));

// Where each wicket process spends its time under a bulk copy: `bun scripts/bench/profile.ts
// tcp-up|tcp-down|ssh [MiB] [--runs=N] [--syscalls] [--perf]`. Starts the bench's rig (rig.ts),
// copies once to warm up, then copies MiB (1024 unless given) N times and prints for each copy
// its rate and each process's CPU seconds per GiB. --syscalls adds, by `perf stat` (which slows
// the processes down), user and system time, context switches and the syscalls per MiB
// (event-loop turns are the epoll waits); --perf writes a `perf record` of each process to
// bench-results/profile-<workload>-<process>.data for `perf report`.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { download, upload } from "../../test/helpers/origin.ts";
import { spawnProc, type Proc } from "../../test/helpers/proc.ts";
import { WICKET } from "../../test/helpers/wicket.ts";
import { sshCat, WARMUP_BYTES, zeros } from "./measure.ts";
import { descendantsRunning } from "./procfs.ts";
import { startRig } from "./rig.ts";
import { GiB, MiB } from "./stats.ts";

const [workload = "tcp-up", mibArg] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const withPerf = process.argv.includes("--perf");
const withSyscalls = process.argv.includes("--syscalls");
const runs = Number(process.argv.find((a) => a.startsWith("--runs="))?.slice(7) ?? 1);
const bytes = Number(mibArg ?? 1024) * MiB;
const ROOT = join(import.meta.dir, "..", "..");

/** utime, stime (s), voluntary and involuntary context switches of a process. */
function sample(pid: number) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const status = readFileSync(`/proc/${pid}/status`, "utf8") as string;
    const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
    return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100, vcs: n("voluntary_ctxt_switches"), ics: n("nonvoluntary_ctxt_switches") };
  } catch {
    return undefined;
  }
}


function perfStat(pid: number): Proc {
  const events = ["raw_syscalls:sys_enter", "syscalls:sys_enter_*"].join(",");
  return spawnProc(["perf", "stat", "-x", ",", "-e", events, "-p", String(pid)], { name: `perf stat ${pid}` });
}

function perfRecord(pid: number, name: string): Proc {
  const dir = join(ROOT, "bench-results");
  mkdirSync(dir, { recursive: true });
  return spawnProc(["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-p", String(pid), "-o", join(dir, `profile-${workload}-${name.replace(/ /g, "-")}.data`)], { name: `perf record ${name}` });
}

const rig = await startRig((m) => console.error(`profile: ${m}`));
try {
  const procs: Record<string, number> = { edge: rig.edge.proc.pid };
  let copy: () => Promise<unknown>;
  if (workload === "tcp-up" || workload === "tcp-down") {
    procs.connector = rig.tcpConnector.pid;
    procs["access tcp"] = rig.accessTcp.proc.pid;
    const f = workload === "tcp-up" ? upload : download;
    await f(rig.accessTcp.port, WARMUP_BYTES);
    copy = () => f(rig.accessTcp.port, bytes);
  } else if (workload === "ssh") {
    procs.connector = rig.sshConnector.pid;
    const [file, warm] = await Promise.all([zeros(rig.dir, bytes), zeros(rig.dir, WARMUP_BYTES)]);
    await sshCat(rig.ssh.wicket, warm);
    // `access ssh` lives only as long as the copy: follow it from its start
    copy = async () => {
      const proc = spawnProc(["ssh", ...rig.ssh.wicket.args, "cat > /dev/null"], { stdin: Bun.file(file), name: "ssh" });
      let access: number | undefined;
      while (access === undefined && proc.exitCode === undefined) {
        access = descendantsRunning(proc.pid, WICKET)[0];
        if (access === undefined) await Bun.sleep(2);
      }
      if (access !== undefined) {
        procs["access ssh"] = access;
        before["access ssh"] = sample(access);
        if (withPerf) tools.push(perfRecord(access, "access ssh"));
        if (withSyscalls) tools.push(perfStat(access));
        // its last figures, read while it still runs
        const t = setInterval(() => (lastAccess = sample(access!) ?? lastAccess), 20);
        await proc.exited;
        clearInterval(t);
      } else await proc.exited;
    };
  } else throw new Error(`unknown workload ${workload}; tcp-up, tcp-down or ssh`);
  let lastAccess: ReturnType<typeof sample>;
  let tools: Proc[] = [];
  let before: Record<string, ReturnType<typeof sample>> = {};
  for (let run = 0; run < runs; run++) {
    tools = [];
    before = {};
    delete procs["access ssh"];
    for (const [name, pid] of Object.entries(procs)) {
      before[name] = sample(pid);
      if (withSyscalls) tools.push(perfStat(pid));
      if (withPerf) tools.push(perfRecord(pid, name));
    }
    if (tools.length > 0) await Bun.sleep(300); // perf attaches
    const t0 = performance.now();
    await copy();
    const ms = performance.now() - t0;
    const after: Record<string, ReturnType<typeof sample>> = {};
    for (const [name, pid] of Object.entries(procs)) after[name] = name === "access ssh" ? lastAccess : sample(pid);
    for (const t of tools) t.subprocess.kill("SIGINT");
    await Promise.all(tools.map((t) => t.subprocess.exited));
    const gib = bytes / GiB;
    const cpu = (name: string) => {
      const [a, b] = [before[name], after[name]];
      return a && b ? (b.user - a.user + b.sys - a.sys) / gib : NaN;
    };
    console.log(`${workload}: ${bytes / MiB} MiB in ${(ms / 1000).toFixed(2)} s, ${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s; CPU s/GiB ${Object.keys(procs).map((n) => `${n} ${cpu(n).toFixed(2)}`).join(", ")}`);
    if (!withSyscalls) continue;
    for (const [name, pid] of Object.entries(procs)) {
      const a = before[name]!;
      const b = after[name]!;
      if (!a || !b) continue;
      const stat = tools.find((t) => t.name === `perf stat ${pid}`);
      const counts = Object.fromEntries(
        (stat?.stderr() ?? "")
          .split("\n")
          .map((l) => l.split(","))
          .filter((f) => f.length > 2 && /^\d+$/.test(f[0]!))
          .map((f) => [f[2]!.replace(/^(raw_)?syscalls:sys_enter_?/, "") || "all", Number(f[0])]),
      );
      const mib = (v: number) => (v / (bytes / MiB)).toFixed(1);
      console.log(
        `  ${name.padEnd(11)} user ${((b.user - a.user) / gib).toFixed(2)}, sys ${((b.sys - a.sys) / gib).toFixed(2)} s/GiB; ctx switches ${((b.vcs - a.vcs + b.ics - a.ics) / (bytes / MiB)).toFixed(1)}/MiB; syscalls ${mib(counts.all ?? NaN)}/MiB: ` +
          Object.entries(counts)
            .filter(([s, v]) => s !== "all" && v / (bytes / MiB) >= 0.5)
            .sort((x, y) => y[1] - x[1])
            .map(([s, v]) => `${s} ${mib(v)}`)
            .join(", "),
      );
    }
  }
} finally {
  await rig[Symbol.asyncDispose]();
}

// Memory of other processes, from /proc (Linux): resident size now, its peak, and the
// processes a command started (ssh's ProxyCommand).
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), or undefined once the process is gone. */
export function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the peak resident size (VmHWM) to the current one, so a later read covers only what
 * came after (proc(5), clear_refs value 5). False where that is not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** The direct children of `pid` (every thread's /proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter(Boolean).map(Number));
  } catch {
    return []; // gone meanwhile
  }
}

/** Every process below `pid` whose executable is `exe` (an absolute path). */
export function descendantsRunning(pid: number, exe: string): number[] {
  const found: number[] = [];
  for (const c of childrenOf(pid)) {
    try {
      if (readlinkSync(`/proc/${c}/exe`) === exe) found.push(c);
    } catch {
      // gone meanwhile
    }
    found.push(...descendantsRunning(c, exe));
  }
  return found;
}

/**
 * Samples the peak resident size (KiB) of the `exe` processes below `pid` every `everyMs` until
 * stopped, and returns the largest seen. VmHWM only grows, so what a sample misses is at most
 * the growth in the last interval of a process's life.
 */
export function watchPeak(pid: number, exe: string, everyMs = 50) {
  let peak = 0;
  const sample = () => {
    for (const p of descendantsRunning(pid, exe)) peak = Math.max(peak, statusKiB(p, "VmHWM") ?? 0);
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop(): number {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux port in use). */
const USER_HZ = 100;

/** CPU time (user + system, seconds) a process has used so far, or NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command name: state is 3rd, utime the 14th, stime the 15th
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / USER_HZ;
  } catch {
    return NaN;
  }
}

/** CPU time (seconds) the whole machine has spent busy so far: every state in /proc/stat's
 * first line but idle and iowait. */
export function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user! + nice! + system! + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / USER_HZ;
}

/** CPU time (seconds) of this process and of every descendant it (or they) waited for. */
export function ownCpuSeconds(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime, stime, cutime, cstime: the 14th to 17th fields
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / USER_HZ;
}

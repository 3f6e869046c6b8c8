import { closeSync, openSync, writeSync } from "node:fs";
import { createConsola, LogLevels, type ConsolaReporter, type LogType } from "consola";

export const LOG_LEVELS = ["silent", "error", "warn", "info", "debug"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

// Every log line goes to stderr: stdout of `access ssh` is the SSH byte stream. A long-running
// command may also append its lines to a file (--logfile).
let logFile: number | undefined;

/** `stamp`: the file has no journal to add the time, so text lines get it there. */
function emit(line: string, stamp?: Date) {
  process.stderr.write(line);
  if (logFile !== undefined) {
    try {
      writeSync(logFile, stamp ? `${stamp.toISOString()} ${line}` : line);
    } catch {
      // a full disk must not stop the process; stderr still has the line
    }
  }
}

/** Appends every log line to `path` as well (created 0600), or stops doing so. */
export function setLogFile(path: string | undefined) {
  if (logFile !== undefined) closeSync(logFile);
  logFile = path ? openSync(path, "a", 0o600) : undefined;
}

const jsonReporter: ConsolaReporter = {
  log(obj) {
    const msg = obj.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
    emit(JSON.stringify({ time: obj.date.toISOString(), level: obj.type, msg }) + "\n");
  },
};

/** Text from someone else as one line with no control characters: what a client sent (a
 * header, a form field) may hold a line break that would forge a log line of its own, and what
 * an edge answered, a terminal escape sequence (C0 or C1) that would act on the user's screen. */
export const oneLine = (text: string) => text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));

const textReporter: ConsolaReporter = {
  log(obj) {
    // debug lines (stacks among them) keep their line breaks: they are for whoever debugs the edge
    const flat = obj.type === "debug" ? (t: string) => t : oneLine;
    const msg = obj.args.map((a) => (a instanceof Error ? (log.level >= LogLevels.debug ? a.stack : flat(a.message)) : flat(typeof a === "string" ? a : JSON.stringify(a)))).join(" ");
    const tag = obj.tag ? `[${obj.tag}] ` : "";
    const level = obj.type === "log" || obj.type === "info" || obj.type === "success" || obj.type === "start" ? "" : `${obj.type}: `;
    emit(`${tag}${level}${msg}\n`, obj.date);
  },
};

export const log = createConsola({ level: LogLevels.info, reporters: [textReporter], throttle: 0 }); // every line counts: no "(repeated N times)"

export function setupLog(level: string | undefined, format: string | undefined = "text") {
  const name = (level ?? "info") as LogLevelName;
  if (!LOG_LEVELS.includes(name)) throw new Error(`unknown log level "${level}"; use one of ${LOG_LEVELS.join(", ")}`);
  log.level = name === "silent" ? LogLevels.silent : LogLevels[name as Exclude<LogLevelName, "silent">];
  log.setReporters([format === "json" ? jsonReporter : textReporter]);
}

/**
 * A log for lines anyone on the network can cause (a refused peer link, a bad request to the
 * HTTP-01 port): at most `perWindow` lines each `windowMs`, then one line saying how many were
 * left out, so that a flood cannot fill the disk.
 */
export function boundedLog(perWindow = 10, windowMs = 60_000, now = () => Date.now()) {
  let start = -Infinity;
  let written = 0;
  let dropped = 0;
  return (level: "warn" | "info", line: string) => {
    const t = now();
    if (t - start >= windowMs) {
      if (dropped > 0) log[level](`${dropped} more lines like the one before were left out in ${Math.round((t - start) / 1000)} s`);
      start = t;
      written = 0;
      dropped = 0;
    }
    if (written++ < perWindow) log[level](line);
    else dropped++;
  };
}

export type { LogType };

// `wicket tunnel service install|uninstall`: a systemd unit (Linux) or a launchd job (macOS)
// that runs `wicket tunnel --config FILE`, restarts it whenever it stops, and gives its
// drain on SIGTERM time to finish. Where no init system answers (a container), the file is
// written and the commands that enable it are printed instead.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { temporaryError, usageError } from "../cli/exit.ts";

export const SYSTEMD_UNIT = "wicket-tunnel.service";
export const LAUNCHD_LABEL = "com.wicket.tunnel";
/** systemd waits this long after the grace period before it kills what is left. */
const STOP_MARGIN_S = 15;
const RESTART_DELAY_S = 5;

export interface ServiceSpec {
  /** The command the service runs: the wicket executable, `tunnel`, `--config`, the file. */
  argv: string[];
  /** WICKET_HOME for the service: init systems give services no HOME of the user's. */
  wicketHome: string;
  gracePeriodMs: number;
  /** A system service (root) or one of the user's own. */
  scope: "system" | "user";
  /** launchd only: where stdout and stderr go. */
  logPath?: string;
}

/** systemd's quoting: words with spaces or quotes in double quotes, `%` doubled (a specifier
 * otherwise), and in ExecStart `$` doubled too (a variable otherwise). */
export function systemdWord(word: string, dollar = true): string {
  let escaped = word.replaceAll("%", "%%");
  if (dollar) escaped = escaped.replaceAll("$", "$$$$");
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

const stopTimeout = (spec: ServiceSpec) => Math.ceil(spec.gracePeriodMs / 1000) + STOP_MARGIN_S;

export function systemdUnit(spec: ServiceSpec): string {
  return `# Written by \`wicket tunnel service install\`; \`wicket tunnel service uninstall\` removes it.
[Unit]
Description=wicket tunnel: connects this machine to the wicket edge
After=network-online.target
Wants=network-online.target
# restart for ever, however often it stops
StartLimitIntervalSec=0

[Service]
Type=simple
Environment=${systemdWord(`WICKET_HOME=${spec.wicketHome}`, false)}
ExecStart=${spec.argv.map((w) => systemdWord(w)).join(" ")}
Restart=always
# 77: the edge refused the credential or a hostname; restarting cannot fix that
RestartPreventExitStatus=77
RestartSec=${RESTART_DELAY_S}s
# SIGTERM drains: live sessions get the grace period, then the rest is killed
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=${stopTimeout(spec)}s

[Install]
WantedBy=${spec.scope === "system" ? "multi-user.target" : "default.target"}
`;
}

const xml = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

export function launchdPlist(spec: ServiceSpec): string {
  const args = spec.argv.map((a) => `    <string>${xml(a)}</string>`).join("\n");
  const logs = spec.logPath ? `  <key>StandardOutPath</key>\n  <string>${xml(spec.logPath)}</string>\n  <key>StandardErrorPath</key>\n  <string>${xml(spec.logPath)}</string>\n` : "";
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`wicket tunnel service install\`; \`wicket tunnel service uninstall\` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>WICKET_HOME</key>
    <string>${xml(spec.wicketHome)}</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ThrottleInterval</key>
  <integer>${RESTART_DELAY_S}</integer>
  <key>ExitTimeOut</key>
  <integer>${stopTimeout(spec)}</integer>
${logs}</dict>
</plist>
`;
}

export type InitSystem = "systemd" | "launchd";

export interface ServicePlace {
  init: InitSystem;
  scope: "system" | "user";
  /** The file to write. */
  path: string;
  /** In the directory the init system reads: enabling it by name works. */
  standard: boolean;
}

/** Where the unit or plist goes: the init system's directory for this user, or `dir`. */
export function servicePlace(platform: NodeJS.Platform, isRoot: boolean, dir?: string): ServicePlace {
  const scope = isRoot ? "system" : "user";
  if (platform === "linux") {
    const standardDir = isRoot ? "/etc/systemd/system" : join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "systemd", "user");
    return { init: "systemd", scope, path: join(dir ?? standardDir, SYSTEMD_UNIT), standard: !dir };
  }
  if (platform === "darwin") {
    const standardDir = isRoot ? "/Library/LaunchDaemons" : join(homedir(), "Library", "LaunchAgents");
    return { init: "launchd", scope, path: join(dir ?? standardDir, `${LAUNCHD_LABEL}.plist`), standard: !dir };
  }
  throw usageError(`service install knows systemd (Linux) and launchd (macOS), not ${platform}; run \`wicket tunnel --config FILE\` under this system's own service manager`);
}

/** The commands that enable (or disable) the service: run here when the init system answers, else printed. */
export function enableCommands(place: ServicePlace, action: "enable" | "disable"): string[][] {
  if (place.init === "systemd") {
    const ctl = place.scope === "user" ? ["systemctl", "--user"] : ["systemctl"];
    const unit = place.standard ? SYSTEMD_UNIT : place.path; // systemctl links a unit given by path
    return action === "enable" ? [[...ctl, "daemon-reload"], [...ctl, "enable", "--now", unit]] : [[...ctl, "disable", "--now", SYSTEMD_UNIT], [...ctl, "daemon-reload"]];
  }
  const domain = place.scope === "system" ? "system" : `gui/${process.getuid?.() ?? 501}`;
  return action === "enable" ? [["launchctl", "bootstrap", domain, place.path]] : [["launchctl", "bootout", `${domain}/${LAUNCHD_LABEL}`]];
}

/** Whether the init system runs here and answers: systemd's own test is /run/systemd/system. */
export function initRunning(init: InitSystem): boolean {
  if (init === "launchd") return Bun.which("launchctl") !== null;
  return existsSync("/run/systemd/system") && Bun.which("systemctl") !== null;
}

/** The init system is asked to act only on files in its own directory (never on --dir's). */
const initReachable = (place: ServicePlace) => place.standard && initRunning(place.init);

function runAll(commands: string[][], ignoreFailure = false) {
  for (const c of commands) {
    const r = Bun.spawnSync(c, { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0 && !ignoreFailure) {
      throw temporaryError(`\`${c.join(" ")}\` failed (exit ${r.exitCode}): ${r.stderr.toString().trim() || "no message"}`);
    }
  }
}

export interface ServiceResult {
  path: string;
  /** The init system was told; false: `commands` are for the operator. */
  enabled: boolean;
  /** The init system runs here (when not `enabled`: the file was outside its directory). */
  running: boolean;
  commands: string[][];
  place: ServicePlace;
}

export async function installService(place: ServicePlace, spec: ServiceSpec): Promise<ServiceResult> {
  const text = place.init === "systemd" ? systemdUnit(spec) : launchdPlist(spec);
  const dir = join(place.path, "..");
  await mkdir(dir, { recursive: true });
  await writeFile(place.path, text, { mode: 0o644 });
  const commands = enableCommands(place, "enable");
  const running = initRunning(place.init);
  if (!initReachable(place)) return { path: place.path, enabled: false, running, commands, place };
  if (place.init === "launchd") runAll(enableCommands(place, "disable"), true); // a previous install, still loaded
  try {
    runAll(commands);
  } catch (err) {
    throw temporaryError(`wrote ${place.path}, but could not enable it: ${(err as Error).message}`);
  }
  return { path: place.path, enabled: true, running, commands, place };
}

export async function uninstallService(place: ServicePlace): Promise<ServiceResult & { existed: boolean }> {
  const existed = existsSync(place.path);
  const commands = enableCommands(place, "disable");
  const reachable = initReachable(place);
  // stop it before its file goes; a unit that was never enabled is not an error
  if (reachable && existed) runAll(commands.slice(0, 1), true);
  await rm(place.path, { force: true });
  if (reachable && place.init === "systemd") runAll(commands.slice(1), true);
  return { path: place.path, enabled: reachable, running: initRunning(place.init), commands, place, existed };
}

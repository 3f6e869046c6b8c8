// `wicket tunnel service install|uninstall`: the unit file it writes is the documented one and
// systemd accepts it; where no systemd runs (this container, CI), it says how to enable it.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { launchdPlist, systemdUnit } from "../lib/tunnel/service.ts";
import { run } from "./helpers/proc.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { wicket, WICKET } from "./helpers/wicket.ts";

const root = process.getuid?.() === 0;
const systemdRuns = existsSync("/run/systemd/system");

/** The unit as the README documents it, with this install's paths. */
const documentedUnit = (home: string, config: string, stopSeconds: number) => `# Written by \`wicket tunnel service install\`; \`wicket tunnel service uninstall\` removes it.
[Unit]
Description=wicket tunnel: connects this machine to the wicket edge
After=network-online.target
Wants=network-online.target
# restart for ever, however often it stops
StartLimitIntervalSec=0

[Service]
Type=simple
Environment=WICKET_HOME=${home}
ExecStart=${WICKET} tunnel --config ${config}
Restart=always
# 77: the edge refused the credential or a hostname; restarting cannot fix that
RestartPreventExitStatus=77
RestartSec=5s
# SIGTERM drains: live sessions get the grace period, then the rest is killed
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=${stopSeconds}s

[Install]
WantedBy=${root ? "multi-user.target" : "default.target"}
`;

/** A WICKET_HOME with a zone credential and a valid tunnel.yaml. */
async function home(dir: TempDir, extra: string[] = []) {
  const h = dir.join("home");
  await Bun.write(`${h}/cert.pem`, "placeholder: service install only checks that it exists\n");
  const config = `${h}/tunnel.yaml`;
  await writeFile(config, ["grace-period: 45s", ...extra, "ingress:", "  - hostname: ssh.site.test", "    service: ssh://localhost:22", "  - service: refuse", ""].join("\n"));
  return { home: h, config };
}

describe("service install writes the documented unit", () => {
  test("install, then uninstall, with --dir", async () => {
    await using dir = await tempDir();
    const { home: h, config } = await home(dir);
    const units = dir.join("units");
    const r = await wicket(["tunnel", "service", "install", "--config", config, "--dir", units], { env: { WICKET_HOME: h } });
    expect(r.code).toBe(0);
    const unitPath = `${units}/wicket-tunnel.service`;
    expect(r.stdout).toStartWith(`wrote ${unitPath}\n`);
    // enabling: told, never done, for a file outside systemd's own directory
    const enable = `  systemctl${root ? "" : " --user"} daemon-reload\n  systemctl${root ? "" : " --user"} enable --now ${unitPath}\n`;
    expect(r.stdout).toEndWith(systemdRuns ? `not enabled: systemd does not read ${units}; to enable it:\n${enable}` : `no systemd is running here (a container?); where it runs, enable the service with:\n${enable}`);
    // grace period 45 s + 15 s for the drain to finish before systemd kills
    expect(await readFile(unitPath, "utf8")).toBe(documentedUnit(h, config, 60));

    const u = await wicket(["tunnel", "service", "uninstall", "--dir", units], { env: { WICKET_HOME: h } });
    expect(u.code).toBe(0);
    expect(u.stdout).toStartWith(`removed ${unitPath}\n`);
    expect(existsSync(unitPath)).toBe(false);
    const again = await wicket(["tunnel", "service", "uninstall", "--dir", units], { env: { WICKET_HOME: h } });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`nothing to remove: there is no ${unitPath}\n`);
  });

  test("systemd-analyze verify accepts the unit (where systemd-analyze is installed)", async () => {
    const analyze = Bun.which("systemd-analyze");
    if (!analyze) {
      console.error("systemd-analyze is not installed here: the unit is checked against the documented template only");
      return;
    }
    await using dir = await tempDir();
    const { home: h, config } = await home(dir);
    const units = dir.join("units");
    expect((await wicket(["tunnel", "service", "install", "--config", config, "--dir", units], { env: { WICKET_HOME: h } })).code).toBe(0);
    const v = await run([analyze, "verify", `${units}/wicket-tunnel.service`]);
    expect({ code: v.code, stderr: v.stderr, stdout: v.stdout }).toEqual({ code: 0, stderr: "", stdout: "" });
    // and it does complain about a broken one, so the check above means something
    await writeFile(`${units}/wicket-tunnel.service`, (await readFile(`${units}/wicket-tunnel.service`, "utf8")).replace("Restart=always", "Restart=whenever"));
    expect((await run([analyze, "verify", `${units}/wicket-tunnel.service`])).stderr).toContain("Failed to parse service restart specifier");
  });

  test("a config with an error is refused before anything is written: exit 78, key named", async () => {
    await using dir = await tempDir();
    const { home: h, config } = await home(dir, ["keepalive-timeout: never"]);
    const units = dir.join("units");
    const r = await wicket(["tunnel", "service", "install", "--config", config, "--dir", units], { env: { WICKET_HOME: h } });
    expect(r.code).toBe(78);
    expect(r.stderr.trim()).toBe(`error: ${config}:2: keepalive-timeout: "never" is not a duration; use for example 30s, 2m, 24h or 90d`);
    expect(existsSync(units)).toBe(false);
  });

  test("no config file: exit 64, saying where it looked", async () => {
    await using dir = await tempDir();
    const r = await wicket(["tunnel", "service", "install", "--dir", dir.join("units")], { env: { WICKET_HOME: dir.path } });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`no config file at ${dir.path}/tunnel.yaml`);
  });

  test("the `tunnel` command itself does not run after its `service` subcommand", async () => {
    await using dir = await tempDir();
    const r = await wicket(["tunnel", "service", "uninstall", "--dir", dir.path], { env: { WICKET_HOME: dir.path } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });
});

describe("the unit and plist templates", () => {
  const spec = { argv: ["/opt/wicket 1/wicket", "tunnel", "--config", "/etc/wicket/100%.yaml"], wicketHome: "/var/lib/wicket", gracePeriodMs: 30_000, scope: "system" as const };

  test("systemd: words with spaces quoted, % doubled, a user unit wanted by default.target", () => {
    const unit = systemdUnit(spec);
    expect(unit).toContain('ExecStart="/opt/wicket 1/wicket" tunnel --config /etc/wicket/100%%.yaml\n');
    expect(unit).toContain("TimeoutStopSec=45s\n");
    expect(systemdUnit({ ...spec, scope: "user" })).toContain("WantedBy=default.target\n");
  });

  test("launchd: the documented plist, kept alive and run at load", () => {
    expect(launchdPlist({ ...spec, logPath: "/Library/Logs/wicket-tunnel.log" })).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`wicket tunnel service install\`; \`wicket tunnel service uninstall\` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>com.wicket.tunnel</string>
  <key>ProgramArguments</key>
  <array>
    <string>/opt/wicket 1/wicket</string>
    <string>tunnel</string>
    <string>--config</string>
    <string>/etc/wicket/100%.yaml</string>
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>WICKET_HOME</key>
    <string>/var/lib/wicket</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>ExitTimeOut</key>
  <integer>45</integer>
  <key>StandardOutPath</key>
  <string>/Library/Logs/wicket-tunnel.log</string>
  <key>StandardErrorPath</key>
  <string>/Library/Logs/wicket-tunnel.log</string>
</dict>
</plist>
`);
  });
});

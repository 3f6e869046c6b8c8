// wicket tunnel service install|uninstall: run the tunnel as a systemd or launchd service.
import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { logArgs } from "../lib/cli/args.ts";
import { configError, usageError } from "../lib/cli/exit.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { wicketCommand } from "../lib/cli/self.ts";
import { tunnelConfigPath, tunnelLogPath, wicketHome } from "../lib/paths.ts";
import { installService, servicePlace, uninstallService, type ServicePlace } from "../lib/tunnel/service.ts";
import { resolveSettings } from "../lib/tunnel/settings.ts";

const common = {
  dir: { type: "string", description: "write the unit or plist here instead of the init system's directory (it is then not enabled)", valueHint: "dir" },
  ...logArgs,
} as const;

const place = (args: { dir?: string }): ServicePlace => servicePlace(process.platform, process.getuid?.() === 0, args.dir ? resolve(args.dir) : undefined);
const say = (line: string) => process.stdout.write(`${line}\n`);
const howTo = (commands: string[][]) => commands.map((c) => `  ${c.join(" ")}`).join("\n");

const install = defineCommand({
  meta: { name: "install", description: "write and enable a service that runs `wicket tunnel --config FILE` and restarts it always" },
  args: {
    config: { type: "string", description: "the tunnel's config file (default ~/.wicket/tunnel.yaml)", valueHint: "file" },
    ...common,
  },
  async run({ args }) {
    init(args);
    const config = resolve(args.config || tunnelConfigPath());
    if (!existsSync(config)) {
      throw usageError(`no config file at ${config}; write one (its keys are \`wicket tunnel\`'s flags, see \`wicket tunnel --help\`) or pass --config`);
    }
    // The service sees none of this shell's WICKET_* variables: check the file as it will.
    const s = await resolveSettings({ config }, [], {});
    if (!existsSync(s.origincert)) throw configError(`${config} uses the zone credential ${s.origincert}, which does not exist; run \`wicket tunnel login\` or set origincert`);
    const where = place(args);
    const r = await installService(where, {
      argv: [...wicketCommand(), "tunnel", "--config", config],
      wicketHome: wicketHome(),
      gracePeriodMs: s.gracePeriodMs,
      scope: where.scope,
      logPath: where.init === "launchd" ? (where.scope === "system" ? "/Library/Logs/wicket-tunnel.log" : tunnelLogPath()) : undefined,
    });
    say(`wrote ${r.path}`);
    if (r.enabled) say(`enabled and started it (${r.commands.map((c) => c.join(" ")).join("; ")})`);
    else if (!r.running) say(`no ${where.init} is running here (a container?); where it runs, enable the service with:\n${howTo(r.commands)}`);
    else say(`not enabled: ${where.init} does not read ${args.dir}; to enable it:\n${howTo(r.commands)}`);
  },
});

const uninstall = defineCommand({
  meta: { name: "uninstall", description: "stop, disable and remove the service that `service install` wrote" },
  args: common,
  async run({ args }) {
    init(args);
    const r = await uninstallService(place(args));
    if (!r.existed) return say(`nothing to remove: there is no ${r.path}`);
    say(`removed ${r.path}`);
    if (r.enabled) say("stopped and disabled it");
    else say(`${r.running ? `${r.place.init} was not asked (the file was outside its directory)` : `no ${r.place.init} is running here`}; where the service was enabled, also run:\n${howTo(r.commands)}`);
  },
});

const cmd = defineCommand({
  meta: { name: "service", description: "Run the tunnel as a system service (systemd on Linux, launchd on macOS)" },
  subCommands: { install, uninstall },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

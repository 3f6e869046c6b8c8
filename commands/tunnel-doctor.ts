// wicket tunnel doctor: checks what `wicket tunnel` would run with, on the server, and names
// the hop that fails (README: Troubleshooting).
import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { fromEnv } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { exitCodeOf, render } from "../lib/doctor/hop.ts";
import { diagnoseTunnel } from "../lib/doctor/tunnel.ts";
import { tunnelConfigPath } from "../lib/paths.ts";
import { namedTunnelArgs, tunnelArgs } from "../lib/tunnel/settings.ts";

const cmd = defineCommand({
  meta: { name: "doctor", description: "Check the tunnel's settings, credential, edges, origins and metrics address, and say which one fails" },
  args: {
    ...namedTunnelArgs, // without either: the zone credential, as `wicket tunnel`
    ...tunnelArgs,
    json: { type: "boolean", description: "print the hops as a JSON array", default: false },
    all: { type: "boolean", description: "check everything, not only up to the first failure", default: false },
  },
  async run({ args, rawArgs }) {
    init({ loglevel: args.loglevel ?? "info", "log-format": args["log-format"] });
    // with nothing said, what `tunnel service install` runs: ~/.wicket/tunnel.yaml
    const fallback = !args.config && !args.hostname && !fromEnv(undefined, "config") && existsSync(tunnelConfigPath()) ? { config: tunnelConfigPath() } : {};
    const hops = await diagnoseTunnel({ args: { ...args, ...fallback }, rawArgs, token: fromEnv(args.token, "tunnel-token", "TUNNEL_TOKEN"), name: args.name, all: args.all });
    process.stdout.write(args.json ? JSON.stringify(hops, null, 2) + "\n" : render(hops, process.stdout.isTTY === true));
    process.exitCode = exitCodeOf(hops);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

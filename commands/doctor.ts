// wicket doctor --hostname H: walks the path to an application and names the hop that fails,
// with the reason and the fix; exits with that hop's code (README: Troubleshooting).
import { defineCommand } from "citty";
import { edgeArgs, fromEnv, logArgs, tokenArgs } from "../lib/cli/args.ts";
import { dialOptions } from "../lib/access/options.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { diagnoseApp } from "../lib/doctor/client.ts";
import { exitCodeOf, render } from "../lib/doctor/hop.ts";

const cmd = defineCommand({
  meta: { name: "doctor", description: "Check each hop from here to an application's SSH server, and say which one fails and what to do" },
  args: {
    hostname: { type: "string", description: "application hostname, e.g. ssh.example.com", valueHint: "host" },
    ...tokenArgs,
    ...edgeArgs,
    json: { type: "boolean", description: "print the hops as a JSON array, for scripts and support tickets", default: false },
    all: { type: "boolean", description: "check every hop, not only up to the first failure", default: false },
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const hops = await diagnoseApp({ ...(await dialOptions(args)), caFile: fromEnv(args["ca-file"], "ca-file"), all: args.all });
    process.stdout.write(args.json ? JSON.stringify(hops, null, 2) + "\n" : render(hops, process.stdout.isTTY === true));
    process.exitCode = exitCodeOf(hops);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

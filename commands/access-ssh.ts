import { defineCommand } from "citty";
import { appArgs } from "../lib/cli/args.ts";
import { dialOptions, signInMode } from "../lib/access/options.ts";
import { init, runCommand, shutdownSignal } from "../lib/cli/run.ts";
import { proxyStdio } from "../lib/access/ssh.ts";

const cmd = defineCommand({
  meta: { name: "ssh", description: "Carry an SSH connection through the edge (use as ProxyCommand; stdin/stdout are the SSH stream)" },
  args: appArgs,
  async run({ args }) {
    init(args);
    await proxyStdio(await dialOptions(args), signInMode(args, shutdownSignal()));
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

import { defineCommand } from "citty";
import { edgeArgs, fromEnv, logArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { sshConfigStanza } from "../lib/access/ssh-config.ts";

const cmd = defineCommand({
  meta: { name: "ssh-config", description: "Print the ~/.ssh/config stanza that sends SSH through wicket" },
  args: {
    hostname: { type: "string", description: "application hostname (default: a placeholder to replace)", valueHint: "host" },
    "short-lived-cert": { type: "boolean", description: "log in with short-lived certificates from `access ssh-gen`", default: false },
    ...edgeArgs,
    ...logArgs,
  },
  run({ args }) {
    init(args);
    process.stdout.write(sshConfigStanza({ hostname: args.hostname, edge: fromEnv(args.edge, "edge"), caFile: fromEnv(args["ca-file"], "ca-file"), shortLivedCert: args["short-lived-cert"] }));
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

import { defineCommand } from "citty";
import { edgeArg, edgeArgs, fromEnv, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { oneLine } from "../lib/cli/log.ts";
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
    // each goes into ssh_config text, where a line break would start a directive of its own
    const hostname = args.hostname === undefined || args.hostname === "" ? undefined : String(args.hostname);
    if (hostname !== undefined && !/^[A-Za-z0-9_.*?!,-]{1,253}$/.test(hostname)) throw usageError(`"${oneLine(hostname).slice(0, 100)}" is not a hostname or an ssh_config host pattern (such as ssh.example.com or *.example.com)`);
    const caFile = fromEnv(args["ca-file"], "ca-file");
    if (caFile && /[\x00-\x1f\x7f]/.test(caFile)) throw usageError("--ca-file has control characters in it; give the path of a file");
    process.stdout.write(sshConfigStanza({ hostname, edge: edgeArg(fromEnv(args.edge, "edge")), caFile, shortLivedCert: args["short-lived-cert"] }));
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

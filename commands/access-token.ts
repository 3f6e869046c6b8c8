// wicket access token <hostname>: print a valid app token for scripts (curl, CI steps run by
// a person). Never opens a browser: without a cached token or an org session it fails with
// exit 77 and says to run `wicket access login`.
import { defineCommand } from "citty";
import { edgeArgs, edgeOf, hostnameArg, logArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { appToken } from "../lib/access/signin.ts";

const cmd = defineCommand({
  meta: { name: "token", description: "Print a valid app token for an application (never opens a browser)" },
  args: {
    hostname: { type: "positional", description: "the application's hostname", required: true },
    ...edgeArgs,
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const hostname = hostnameArg(args.hostname);
    const token = await appToken({ hostname, ...(await edgeOf(args)), browser: "never" });
    process.stdout.write(token + "\n");
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

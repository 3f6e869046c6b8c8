// wicket access token <hostname>: print a valid app token for scripts (curl, CI steps run by
// a person, or a CI job with its ID token). Never opens a browser: without a cached token, an
// org session or a job's ID token it fails with exit 77 and says to run `wicket access login`.
import { defineCommand } from "citty";
import { edgeArgs, edgeOf, hostnameArg, logArgs, workloadArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { clientToken } from "../lib/access/connect.ts";
import { idTokenSource } from "../lib/access/workload.ts";

const cmd = defineCommand({
  meta: { name: "token", description: "Print a valid app token for an application (never opens a browser)" },
  args: {
    hostname: { type: "positional", description: "the application's hostname", required: true },
    ...workloadArgs,
    ...edgeArgs,
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const hostname = hostnameArg(args.hostname);
    const token = await clientToken({ hostname, ...(await edgeOf(args)), workload: idTokenSource(args) }, { browser: "never" });
    process.stdout.write(token + "\n");
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

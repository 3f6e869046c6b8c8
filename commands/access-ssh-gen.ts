import { defineCommand } from "citty";
import { init, runCommand } from "../lib/cli/run.ts";
import { log } from "../lib/cli/log.ts";
import { sshGen } from "../lib/access/ssh-gen.ts";
import { clientToken } from "../lib/access/connect.ts";
import { appArgs } from "../lib/cli/args.ts";
import { dialOptions, signInMode } from "../lib/access/options.ts";

const cmd = defineCommand({
  meta: { name: "ssh-gen", description: "Get a short-lived SSH certificate for an ephemeral key (~/.wicket/<hostname>-key)" },
  args: appArgs,
  async run({ args }) {
    init(args);
    const opts = await dialOptions(args);
    const r = await sshGen(opts, () => clientToken(opts, signInMode(args)));
    // ssh runs this from `Match exec` before every connection: quiet unless asked.
    log.debug(`${r.reused ? "reusing" : "wrote"} ${r.cert}, valid until ${r.validBefore.toISOString()}`);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

import { defineCommand } from "citty";
import { appArgs, fromEnv } from "../lib/cli/args.ts";
import { dialOptions, signInMode } from "../lib/access/options.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand, shutdownSignal } from "../lib/cli/run.ts";
import { serveTcp } from "../lib/access/tcp.ts";

const cmd = defineCommand({
  meta: { name: "tcp", description: "Listen locally and carry each connection through the edge to the application" },
  args: {
    ...appArgs,
    url: { type: "string", description: "local address to listen on, e.g. 127.0.0.1:2222", valueHint: "addr" },
  },
  async run({ args }) {
    init(args);
    const listen = fromEnv(args.url, "url");
    if (!listen) throw usageError("--url is required: the local address to listen on, for example 127.0.0.1:2222");
    const signal = shutdownSignal();
    await serveTcp({ ...(await dialOptions(args)), listen, signal, signIn: signInMode(args, signal) });
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

// wicket access login <hostname>: sign in through the browser (or reuse the org session) and
// cache an app token for the application, so that later `ssh` needs nothing.
import { defineCommand } from "citty";
import { browserArgs, edgeArgs, edgeOf, hostnameArg, logArgs } from "../lib/cli/args.ts";
import { signInMode } from "../lib/access/options.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand, shutdownSignal } from "../lib/cli/run.ts";
import { jwtClaims } from "../lib/auth/jwt-claims.ts";
import { appToken } from "../lib/access/signin.ts";

const cmd = defineCommand({
  meta: { name: "login", description: "Sign in for an application through the browser and cache its token" },
  args: {
    hostname: { type: "positional", description: "the application's hostname, e.g. ssh.example.com", required: true },
    ...browserArgs,
    ...edgeArgs,
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const hostname = hostnameArg(args.hostname);
    const signal = shutdownSignal();
    const token = await appToken({ hostname, ...(await edgeOf(args)), browser: signInMode(args, signal).browser, signal });
    const c = jwtClaims(token);
    log.success(`signed in to ${hostname}${c?.email ? ` as ${c.email}` : ""}${c?.exp ? `, until ${new Date(c.exp * 1000).toISOString()}` : ""}`);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

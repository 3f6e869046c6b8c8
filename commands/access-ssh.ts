import { defineCommand } from "citty";
import { edgeArgs, fromEnv, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { readCaFile } from "../lib/cli/values.ts";
import { proxyStdio } from "../lib/access/ssh.ts";
import type { DialOptions } from "../lib/access/dial.ts";

export const tokenArgs = {
  id: { type: "string", description: "service token id (env WICKET_SERVICE_TOKEN_ID or TUNNEL_SERVICE_TOKEN_ID)", valueHint: "id" },
  secret: { type: "string", description: "service token secret (env WICKET_SERVICE_TOKEN_SECRET or TUNNEL_SERVICE_TOKEN_SECRET)", valueHint: "secret" },
} as const;

/** The arguments every access command that reaches an application shares. */
export const appArgs = {
  hostname: { type: "string", description: "application hostname, e.g. ssh.example.com (in ssh_config: %h)", valueHint: "host" },
  ...tokenArgs,
  ...edgeArgs,
  ...logArgs,
} as const;

/** The dial options every access command shares: hostname, edge, CA and service token. */
export async function dialOptions(args: Record<string, any>): Promise<DialOptions> {
  const hostname = String(args.hostname ?? "").toLowerCase();
  if (!hostname) throw usageError("--hostname is required, for example --hostname ssh.example.com");
  const id = fromEnv(args.id, "service-token-id", "TUNNEL_SERVICE_TOKEN_ID");
  const secret = fromEnv(args.secret, "service-token-secret", "TUNNEL_SERVICE_TOKEN_SECRET");
  if (Boolean(id) !== Boolean(secret)) throw usageError("a service token needs both --id and --secret");
  return {
    hostname,
    edge: fromEnv(args.edge, "edge"),
    ca: await readCaFile(fromEnv(args["ca-file"], "ca-file")),
    serviceToken: id && secret ? { id, secret } : undefined,
  };
}

const cmd = defineCommand({
  meta: { name: "ssh", description: "Carry an SSH connection through the edge (use as ProxyCommand; stdin/stdout are the SSH stream)" },
  args: appArgs,
  async run({ args }) {
    init(args);
    await proxyStdio(await dialOptions(args));
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

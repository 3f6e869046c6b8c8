// wicket edge ssh-ca <hostname>: the public key of an application's SSH CA, for the
// TrustedUserCAKeys of the servers behind it. Each application has its own, so a
// certificate obtained at one opens no other's servers.
import { defineCommand } from "citty";
import { getSshCA, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { printJson, printLine } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "ssh-ca", description: "print an application's SSH CA public key; put it in the file sshd's TrustedUserCAKeys names on its servers" },
  args: {
    ...adminArgs,
    hostname: { type: "positional", description: "the application, or a host a *.<zone> application serves (its CA is the wildcard's)", required: true },
  },
  async run({ args }) {
    init(args);
    const ca = await getSshCA(resolveAdminConnection(args), args.hostname);
    // --json also lists the retired edge-wide key, to find servers that still trust it
    args.json ? printJson(ca) : printLine(ca.publicKey);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

// wicket edge ssh-ca: the public key of the edge's SSH CA, for sshd's TrustedUserCAKeys.
import { defineCommand } from "citty";
import { adminRequest, resolveAdminConnection } from "../lib/admin/client.ts";
import { printJson, printLine } from "../lib/admin/output.ts";
import { adminArgs, logArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "ssh-ca", description: "print the SSH CA public key; put it in the file sshd's TrustedUserCAKeys names" },
  args: { ...logArgs, ...adminArgs },
  async run({ args }) {
    init(args);
    const { publicKey } = await adminRequest<{ publicKey: string }>(resolveAdminConnection(args), "GET", "ssh-ca");
    args.json ? printJson({ publicKey }) : printLine(publicKey);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

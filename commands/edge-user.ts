// wicket edge user revoke|revocations: throw a user out now. Their live sessions close and
// every credential they were issued before the revocation is refused; signing in again
// gets new ones, which the policies judge as usual.
import { defineCommand } from "citty";
import { getUserRevocations, postUserRevocation, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const revoke = defineCommand({
  meta: { name: "revoke", description: "revoke a user's sign-ins: live sessions close, tokens issued before now are refused" },
  args: { ...adminArgs, email: { type: "positional", description: "the user's e-mail", required: true } },
  async run({ args }) {
    init(args);
    const { revocation: r, sessionsClosed } = await postUserRevocation(resolveAdminConnection(args), args.email);
    args.json
      ? printJson({ ...r, sessionsClosed })
      : printLine(`revoked the sign-ins of ${r.email} issued before ${when(r.revokedBefore)}; closed ${sessionsClosed} live session${sessionsClosed === 1 ? "" : "s"} on this edge node`);
  },
});

const revocations = defineCommand({
  meta: { name: "revocations", description: "list revoked users, newest first" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const list = await getUserRevocations(resolveAdminConnection(args));
    args.json ? printJson(list) : printTable(["email", "refused before", "by"], list.map((r) => [r.email, when(r.revokedBefore), r.revokedBy ?? ""]), "no user has been revoked");
  },
});

const cmd = defineCommand({
  meta: { name: "user", description: "manage users: revoke their sign-ins" },
  subCommands: { revoke, revocations },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

// wicket edge token create|list|revoke: service tokens for CI jobs. Revoking one refuses it
// from then on and closes its live sessions.
import { defineCommand } from "citty";
import { getTokens, postToken, resolveAdminConnection, revokeToken } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const create = defineCommand({
  meta: { name: "create", description: "create a service token; its secret is printed once" },
  args: {
    ...adminArgs,
    name: { type: "positional", description: "a name for the token, e.g. ci-deploy", required: true },
    principal: { type: "string", description: "Unix user that this token's short-lived SSH certificates name", valueHint: "user" },
  },
  async run({ args }) {
    init(args);
    const t = await postToken(resolveAdminConnection(args), args.name, args.principal ? { principal: args.principal } : {});
    if (args.json) return printJson({ id: t.id, secret: t.secret, name: t.name });
    printLine(`id:     ${t.id}`);
    printLine(`secret: ${t.secret}`);
    log.warn("the secret will not be shown again; store it in your CI's secrets now");
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list service tokens (never their secrets)" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const tokens = await getTokens(resolveAdminConnection(args));
    args.json ? printJson(tokens) : printTable(["id", "name", "created"], tokens.map((t) => [t.id, t.name, when(t.createdAt)]), "no service tokens; create one with: wicket edge token create <name>");
  },
});

// `rm` stays for those who learnt it first; both revoke.
const revokeCommand = (name: string, description: string) =>
  defineCommand({
    meta: { name, description },
    args: { ...adminArgs, token: { type: "positional", description: "the token's id or name", required: true, valueHint: "id-or-name" } },
    async run({ args }) {
      init(args);
      const { token: t, sessionsClosed } = await revokeToken(resolveAdminConnection(args), args.token);
      args.json
        ? printJson({ ...t, sessionsClosed })
        : printLine(`revoked service token ${t.name} (${t.id}); closed ${sessionsClosed} live session${sessionsClosed === 1 ? "" : "s"} on this edge node`);
    },
  });

const cmd = defineCommand({
  meta: { name: "token", description: "manage service tokens, the credentials of CI jobs" },
  subCommands: { create, list, revoke: revokeCommand("revoke", "revoke a service token: it is refused from now on and its live sessions are closed"), rm: revokeCommand("rm", "the same as revoke") },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

// wicket edge admin-token create|list|revoke: admin API tokens for automation, edge-wide or
// of one zone, read-only or not, expiring or not. The token is printed once; revoking one
// refuses it from the next request on, on every node. `revoke bootstrap` retires the token
// the edge made on its first start.
import { defineCommand } from "citty";
import { deleteAdminToken, getAdminTokens, postAdminToken } from "../lib/admin-client/admin-tokens.ts";
import { resolveAdminConnection } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { parseDuration } from "../lib/cli/values.ts";

const create = defineCommand({
  meta: { name: "create", description: "create an admin token; it is printed once" },
  args: {
    ...adminArgs,
    name: { type: "positional", description: "a name for the token, e.g. terraform", required: true },
    zone: { type: "string", description: "the zone it may administer, and no other (default: the whole edge, for an edge admin)", valueHint: "zone" },
    "read-only": { type: "boolean", description: "it may read, never change", default: false },
    expires: { type: "string", description: "how long it lasts, e.g. 30d or 12h (default: until revoked)", valueHint: "duration" },
  },
  async run({ args }) {
    init(args);
    const expiresAt = args.expires ? Date.now() + parseDuration(args.expires, "expires") : undefined;
    const t = await postAdminToken(resolveAdminConnection(args), { name: args.name, zone: args.zone, readOnly: args["read-only"] || undefined, expiresAt });
    if (args.json) return printJson(t);
    printLine(t.token);
    log.warn("the token will not be shown again; store it in your automation's secrets now");
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list admin tokens (never their secrets)" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const tokens = await getAdminTokens(resolveAdminConnection(args));
    if (args.json) return printJson(tokens);
    const now = Date.now();
    printTable(
      ["id", "name", "zone", "access", "expires", "created"],
      tokens.map((t) => [t.id, t.name, t.zone ?? "(edge)", t.readOnly ? "read-only" : "read-write", t.expiresAt ? `${when(t.expiresAt)}${t.expiresAt <= now ? " (expired)" : ""}` : "never", when(t.createdAt)]),
      "no admin tokens; create one with: wicket edge admin-token create <name>",
    );
  },
});

const revoke = defineCommand({
  meta: { name: "revoke", description: "revoke an admin token: it is refused from now on, on every node" },
  args: { ...adminArgs, token: { type: "positional", description: "the token's id or name (bootstrap for the first one)", required: true, valueHint: "id-or-name" } },
  async run({ args }) {
    init(args);
    const t = await deleteAdminToken(resolveAdminConnection(args), args.token);
    args.json ? printJson(t) : printLine(`revoked admin token ${t.name} (${t.id})`);
  },
});

const cmd = defineCommand({
  meta: { name: "admin-token", description: "manage admin tokens, the credentials of automation: edge-wide or of a zone, read-only, expiring" },
  subCommands: { create, list, revoke },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

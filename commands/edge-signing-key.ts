// wicket edge signing-key list|rotate: the keys the edge signs app tokens with.
import { defineCommand } from "citty";
import { getSigningKeys, resolveAdminConnection, rotateSigningKey } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const list = defineCommand({
  meta: { name: "list", description: "list the signing keys: the current one, older ones whose tokens are still accepted, retired ones" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const keys = await getSigningKeys(resolveAdminConnection(args));
    if (args.json) return printJson(keys);
    const state = (k: (typeof keys)[number]) => (k.current ? "current" : k.retiredAt !== undefined ? `retired ${when(k.retiredAt)}` : "accepted");
    printTable(["kid", "alg", "created", "state"], keys.map((k) => [k.kid, k.alg, when(k.createdAt), state(k)]), "no signing key yet; the edge makes one when it first signs a token");
  },
});

const rotate = defineCommand({
  meta: { name: "rotate", description: "sign app tokens with a new key from now on; tokens of the older keys stay valid until they expire, or with --retire-old are refused at once" },
  args: {
    ...adminArgs,
    "retire-old": { type: "boolean", description: "retire every older key now (a key that may have leaked): their tokens are refused and the sessions they opened are cut; clients get new tokens from their sign-in", default: false },
  },
  async run({ args }) {
    init(args);
    const r = await rotateSigningKey(resolveAdminConnection(args), args["retire-old"]);
    if (args.json) return printJson(r);
    printLine(`app tokens are signed with the new key ${r.kid}`);
    if (r.retired.length) printLine(`retired ${r.retired.join(", ")}: their tokens are refused; ${r.sessionsClosed} live session(s) on this node cut, other nodes follow within a second`);
  },
});

const cmd = defineCommand({
  meta: { name: "signing-key", description: "manage the keys the edge signs app tokens with" },
  subCommands: { list, rotate },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

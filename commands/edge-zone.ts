// wicket edge zone add|edit|list|rm: the domains the edge serves.
import { defineCommand } from "citty";
import { deleteZone, getZones, patchZone, postZone, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { usageError } from "../lib/cli/exit.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs, repeatedFlag } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const add = defineCommand({
  meta: { name: "add", description: "add a zone, a domain whose hostnames the edge serves" },
  args: {
    ...adminArgs,
    zone: { type: "positional", description: "the domain, e.g. example.com", required: true },
    admin: { type: "string", description: "who may connect servers to it with `wicket tunnel login`: an e-mail address or group:<name> (repeatable)", valueHint: "who" },
  },
  async run({ args, rawArgs }) {
    init(args);
    const zone = await postZone(resolveAdminConnection(args), args.zone, repeatedFlag(rawArgs, "admin", args.admin));
    args.json ? printJson(zone) : printLine(`added zone ${zone.name}${zone.admins?.length ? `, administered by ${zone.admins.join(", ")}` : ""}`);
  },
});

const edit = defineCommand({
  meta: { name: "edit", description: "change who may connect servers to a zone with `wicket tunnel login` (credentials already issued stay valid; `zone rm` revokes them)" },
  args: {
    ...adminArgs,
    zone: { type: "positional", description: "the domain", required: true },
    "add-admin": { type: "string", description: "an e-mail address or group:<name> to add (repeatable)", valueHint: "who" },
    "remove-admin": { type: "string", description: "an e-mail address or group:<name> to remove (repeatable)", valueHint: "who" },
  },
  async run({ args, rawArgs }) {
    init(args);
    const addAdmins = repeatedFlag(rawArgs, "add-admin", args["add-admin"]);
    const removeAdmins = repeatedFlag(rawArgs, "remove-admin", args["remove-admin"]);
    if (addAdmins.length + removeAdmins.length === 0) throw usageError("say what to change: --add-admin <who> or --remove-admin <who>");
    const zone = await patchZone(resolveAdminConnection(args), args.zone, { addAdmins, removeAdmins });
    args.json ? printJson(zone) : printLine(`zone ${zone.name}: ${zone.admins?.length ? `administered by ${zone.admins.join(", ")}` : "no admins (no one can use `wicket tunnel login` for it)"}`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list zones" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const zones = await getZones(resolveAdminConnection(args));
    if (args.json) return printJson(zones);
    // The admins column only where someone can use `tunnel login`, so the common table stays narrow.
    const admins = zones.some((z) => z.admins?.length);
    printTable(admins ? ["zone", "created", "admins"] : ["zone", "created"], zones.map((z) => [z.name, when(z.createdAt), ...(admins ? [(z.admins ?? []).join(", ")] : [])]), "no zones; add one with: wicket edge zone add <domain>");
  },
});

const rm = defineCommand({
  meta: { name: "rm", description: "remove a zone that no application uses (revokes its tunnel credentials)" },
  args: { ...adminArgs, zone: { type: "positional", description: "the domain", required: true } },
  async run({ args }) {
    init(args);
    const zone = await deleteZone(resolveAdminConnection(args), args.zone);
    args.json ? printJson(zone) : printLine(`removed zone ${zone.name}`);
  },
});

const cmd = defineCommand({
  meta: { name: "zone", description: "manage zones, the domains the edge serves" },
  subCommands: { add, edit, list, rm },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

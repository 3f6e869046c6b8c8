// wicket edge app add|list|rm: the hostnames (or *.zone wildcards) that lead to connectors.
import { defineCommand } from "citty";
import { deleteApp, getApps, postApp, resolveAdminConnection } from "../lib/admin/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin/output.ts";
import { adminArgs, logArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const common = { ...logArgs, ...adminArgs } as const;

const add = defineCommand({
  meta: { name: "add", description: "add an application: a hostname in a zone, or *.<zone> for every host one label under it" },
  args: {
    ...common,
    hostname: { type: "positional", description: "e.g. ssh.example.com or '*.example.com'", required: true },
    "ssh-principal": { type: "string", description: "the Unix user a signed-in user's SSH certificates name: localpart (default), email or claim:<name>", valueHint: "mode" },
  },
  async run({ args }) {
    init(args);
    const app = await postApp(resolveAdminConnection(args), args.hostname, args["ssh-principal"] ? { sshPrincipal: args["ssh-principal"] } : {});
    args.json ? printJson(app) : printLine(`added application ${app.hostname} (zone ${app.zone}); allow someone in with: wicket edge policy add ${app.hostname.startsWith("*") ? `'${app.hostname}'` : app.hostname} --name N --action allow --include R`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list applications" },
  args: { ...common, zone: { type: "string", description: "only the applications of this zone", valueHint: "zone" } },
  async run({ args }) {
    init(args);
    const apps = await getApps(resolveAdminConnection(args), args.zone);
    args.json ? printJson(apps) : printTable(["hostname", "zone", "created"], apps.map((a) => [a.hostname, a.zone, when(a.createdAt)]), "no applications; add one with: wicket edge app add <hostname>");
  },
});

const rm = defineCommand({
  meta: { name: "rm", description: "remove an application and its policies" },
  args: { ...common, hostname: { type: "positional", description: "the application's hostname", required: true } },
  async run({ args }) {
    init(args);
    const app = await deleteApp(resolveAdminConnection(args), args.hostname);
    args.json ? printJson(app) : printLine(`removed application ${app.hostname} and its policies`);
  },
});

const cmd = defineCommand({
  meta: { name: "app", description: "manage applications, the hostnames people and CI jobs connect to" },
  subCommands: { add, list, rm },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

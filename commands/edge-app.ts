// wicket edge app add|edit|list|rm: the hostnames (or *.zone wildcards) that lead to
// connectors, and how long a sign-in to each lasts.
import { defineCommand } from "citty";
import { deleteApp, getApps, patchApp, postApp, resolveAdminConnection } from "../lib/admin/client.ts";
import { duration, printJson, printLine, printTable, when } from "../lib/admin/output.ts";
import { usageError } from "../lib/cli/exit.ts";
import { parseDuration } from "../lib/cli/values.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const sessionLengthArg = {
  "session-length": { type: "string", description: "how long a sign-in to this application lasts, e.g. 8h or 30d (default 24h)", valueHint: "duration" },
} as const;

const sshPrincipalArg = {
  "ssh-principal": { type: "string", description: "the Unix user a signed-in user's SSH certificates name: localpart (default), email, or claim:<name> (a claim of the OpenID Connect provider)", valueHint: "mode" },
} as const;
const sessionLength = (raw: string | undefined) => (raw === undefined ? undefined : parseDuration(raw, "session-length"));

const add = defineCommand({
  meta: { name: "add", description: "add an application: a hostname in a zone, or *.<zone> for every host one label under it" },
  args: {
    ...adminArgs,
    hostname: { type: "positional", description: "e.g. ssh.example.com or '*.example.com'", required: true },
    ...sessionLengthArg,
    ...sshPrincipalArg,
  },
  async run({ args }) {
    init(args);
    const app = await postApp(resolveAdminConnection(args), args.hostname, {
      sessionLengthMs: sessionLength(args["session-length"]),
      ...(args["ssh-principal"] ? { sshPrincipal: args["ssh-principal"] } : {}),
    });
    args.json ? printJson(app) : printLine(`added application ${app.hostname} (zone ${app.zone}); allow someone in with: wicket edge policy add ${app.hostname.startsWith("*") ? `'${app.hostname}'` : app.hostname} --name N --action allow --include R`);
  },
});

const edit = defineCommand({
  meta: { name: "edit", description: "change an application's settings" },
  args: {
    ...adminArgs,
    hostname: { type: "positional", description: "the application's hostname (or '*.zone')", required: true },
    ...sessionLengthArg,
    "default-session-length": { type: "boolean", description: "go back to the edge's default session length", default: false },
    ...sshPrincipalArg,
  },
  async run({ args }) {
    init(args);
    if (args["session-length"] !== undefined && args["default-session-length"]) throw usageError("pass --session-length or --default-session-length, not both");
    const length = args["default-session-length"] ? null : sessionLength(args["session-length"]);
    if (length === undefined && !args["ssh-principal"]) throw usageError("say what to change: --session-length <duration>, --default-session-length or --ssh-principal <mode>");
    const app = await patchApp(resolveAdminConnection(args), args.hostname, {
      ...(length !== undefined ? { sessionLengthMs: length } : {}),
      ...(args["ssh-principal"] ? { sshPrincipal: args["ssh-principal"] } : {}),
    });
    args.json ? printJson(app) : printLine(`${app.hostname}: sign-ins last ${duration(app.sessionLengthMs)}${app.sessionLengthSet ? "" : " (the default)"}; SSH principal: ${app.sshPrincipal}`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list applications" },
  args: { ...adminArgs, zone: { type: "string", description: "only the applications of this zone", valueHint: "zone" } },
  async run({ args }) {
    init(args);
    const apps = await getApps(resolveAdminConnection(args), args.zone);
    args.json
      ? printJson(apps)
      : printTable(["hostname", "zone", "session", "ssh principal", "created"], apps.map((a) => [a.hostname, a.zone, duration(a.sessionLengthMs) + (a.sessionLengthSet ? "" : " (default)"), a.sshPrincipal, when(a.createdAt)]), "no applications; add one with: wicket edge app add <hostname>");
  },
});

const rm = defineCommand({
  meta: { name: "rm", description: "remove an application and its policies" },
  args: { ...adminArgs, hostname: { type: "positional", description: "the application's hostname", required: true } },
  async run({ args }) {
    init(args);
    const app = await deleteApp(resolveAdminConnection(args), args.hostname);
    args.json ? printJson(app) : printLine(`removed application ${app.hostname} and its policies`);
  },
});

const cmd = defineCommand({
  meta: { name: "app", description: "manage applications, the hostnames people and CI jobs connect to" },
  subCommands: { add, edit, list, rm },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

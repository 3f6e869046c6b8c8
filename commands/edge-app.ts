// wicket edge app add|edit|list|rm: the hostnames (or *.zone wildcards) that lead to
// connectors, how long a sign-in to each lasts and a cut session waits to resume, what its SSH certificates name and permit,
// and SSH in the browser for it.
import { defineCommand } from "citty";
import { lineFingerprint as fingerprintOf } from "../lib/ssh/format.ts";
import { deleteApp, getApps, patchApp, postApp, resolveAdminConnection, type AppInfo } from "../lib/admin-client/client.ts";
import { bytes, printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { usageError } from "../lib/cli/exit.ts";
import { formatDuration, parseDuration, parseSize } from "../lib/cli/values.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const sessionLengthArg = {
  "session-length": { type: "string", description: "how long a sign-in to this application lasts, e.g. 8h or 30d (default 24h)", valueHint: "duration" },
} as const;

const resumeGraceArg = {
  "resume-grace": { type: "string", description: "how long a cut ssh session may take to resume, the connector keeping its origin meanwhile: e.g. 2m (the default), 90s, or 0 to not resume; `default` goes back to the default", valueHint: "duration" },
} as const;

/** --resume-grace as milliseconds, null for `default`, undefined when not given. */
const resumeGrace = (raw: string | undefined) => (raw === undefined ? undefined : raw.trim() === "default" ? null : parseDuration(raw, "resume-grace"));
const graceWords = (a: AppInfo) => (a.resumeGraceMs === 0 ? "off" : formatDuration(a.resumeGraceMs)) + (a.resumeGraceSet ? "" : " (default)");

const sshPrincipalArg = {
  "ssh-principal": { type: "string", description: "the Unix user a signed-in user's SSH certificates name: localpart (default), email, or claim:<name> (a claim of the OpenID Connect provider)", valueHint: "mode" },
} as const;
const sshCertArgs = {
  "allow-system-principals": { type: "boolean", description: "let SSH certificates name root and other system accounts (refused by default); --no-allow-system-principals refuses them again" },
  "ssh-extensions": { type: "string", description: "what SSH certificates permit besides a terminal and port forwarding: a comma list of agent, x11 and user-rc, or none", valueHint: "list" },
} as const;

/** The certificate settings the flags name (a flag not given changes nothing). */
const sshCertSettings = (args: { "allow-system-principals"?: boolean; "ssh-extensions"?: string }) => {
  const raw = args["ssh-extensions"]?.trim();
  const list = raw === undefined ? undefined : raw === "none" ? [] : raw.split(",").map((e) => e.trim()).filter(Boolean);
  if (list?.length === 0 && raw !== "none") throw usageError(`--ssh-extensions takes a comma list of agent, x11 and user-rc, or none`);
  return {
    ...(args["allow-system-principals"] !== undefined ? { allowSystemPrincipals: args["allow-system-principals"] } : {}),
    ...(list ? { sshExtensions: list } : {}),
  };
};

/** The principal setting, and what certificates allow beyond the defaults only when set: scripts read the plain line. */
const principalWords = (a: AppInfo) => `${a.sshPrincipal}${a.allowSystemPrincipals ? " (system accounts allowed)" : ""}`;
const extensionWords = (a: AppInfo) => (a.sshExtensions?.length ? a.sshExtensions.join(",") : "");

const browserArgs = {
  "browser-ssh": { type: "boolean", description: "open a terminal for signed-in people who browse to https://<hostname>/ (the edge is the SSH client, with a short-lived certificate); --no-browser-ssh turns it off" },
  record: { type: "boolean", description: "record each browser terminal session (asciicast v2, `wicket edge recording`); a session whose recording cannot be written does not run" },
  "record-input": { type: "boolean", description: "with --record: record keystrokes too (passwords typed at prompts included)" },
  "recording-limit": { type: "string", description: "how much of the store one recording may take, e.g. 64MiB (the default) or 1GiB; at it the recording ends with a marker, and the session with it; `default` goes back to the default", valueHint: "size" },
} as const;

/** The browser settings the flags name (a flag not given changes nothing). */
const browserSettings = (args: { "browser-ssh"?: boolean; record?: boolean; "record-input"?: boolean; "recording-limit"?: string; "accept-host-key"?: boolean }) => ({
  ...(args["browser-ssh"] !== undefined ? { browserSsh: args["browser-ssh"] } : {}),
  ...(args.record !== undefined ? { record: args.record } : {}),
  ...(args["record-input"] !== undefined ? { recordInput: args["record-input"] } : {}),
  ...(args["recording-limit"] !== undefined ? { recordingLimit: args["recording-limit"] === "default" ? null : parseSize(args["recording-limit"], "recording-limit") } : {}),
  ...(args["accept-host-key"] ? { acceptHostKey: true } : {}),
});

const browserWords = (a: AppInfo) =>
  a.browserSsh ? `browser SSH${a.record ? `, recorded${a.recordInput ? " with input" : ""}${a.recordingLimit ? ` (at most ${bytes(a.recordingLimit)} each)` : ""}` : ""}` : "-";

const sessionLength = (raw: string | undefined) => (raw === undefined ? undefined : parseDuration(raw, "session-length"));

const add = defineCommand({
  meta: { name: "add", description: "add an application: a hostname in a zone, or *.<zone> for every host one label under it" },
  args: {
    ...adminArgs,
    hostname: { type: "positional", description: "e.g. ssh.example.com or '*.example.com'", required: true },
    ...sessionLengthArg,
    ...resumeGraceArg,
    ...sshPrincipalArg,
    ...sshCertArgs,
    ...browserArgs,
  },
  async run({ args }) {
    init(args);
    const app = await postApp(resolveAdminConnection(args), args.hostname, {
      sessionLengthMs: sessionLength(args["session-length"]),
      resumeGraceMs: resumeGrace(args["resume-grace"]) ?? undefined,
      ...(args["ssh-principal"] ? { sshPrincipal: args["ssh-principal"] } : {}),
      ...sshCertSettings(args),
      ...browserSettings(args),
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
    ...resumeGraceArg,
    ...sshPrincipalArg,
    ...sshCertArgs,
    ...browserArgs,
    "accept-host-key": { type: "boolean", description: "trust the host key the server offered in place of the pinned one (check it first: a changed key can be an attack)" },
  },
  async run({ args }) {
    init(args);
    if (args["session-length"] !== undefined && args["default-session-length"]) throw usageError("pass --session-length or --default-session-length, not both");
    const length = args["default-session-length"] ? null : sessionLength(args["session-length"]);
    const grace = resumeGrace(args["resume-grace"]);
    const cert = sshCertSettings(args);
    const browser = browserSettings(args);
    if (length === undefined && grace === undefined && !args["ssh-principal"] && !Object.keys(cert).length && !Object.keys(browser).length) {
      throw usageError(
        "say what to change: --session-length <duration>, --default-session-length, --resume-grace <duration>, --ssh-principal <mode>, --[no-]allow-system-principals, --ssh-extensions <list>, --[no-]browser-ssh, --[no-]record, --[no-]record-input, --recording-limit <size> or --accept-host-key",
      );
    }
    const app = await patchApp(resolveAdminConnection(args), args.hostname, {
      ...(length !== undefined ? { sessionLengthMs: length } : {}),
      ...(grace !== undefined ? { resumeGraceMs: grace } : {}),
      ...(args["ssh-principal"] ? { sshPrincipal: args["ssh-principal"] } : {}),
      ...cert,
      ...browser,
    });
    const extensions = extensionWords(app);
    args.json ? printJson(app) : printLine(`${app.hostname}: sign-ins last ${formatDuration(app.sessionLengthMs)}${app.sessionLengthSet ? "" : " (the default)"}${app.resumeGraceSet ? `; resume grace ${graceWords(app)}` : ""}; SSH principal: ${principalWords(app)}${extensions ? `; SSH extensions: ${extensions}` : ""}${browserWords(app) === "-" ? "" : `; ${browserWords(app)}`}${app.hostKey ? `; host key ${app.hostKey.split(" ")[0]} ${fingerprintOf(app.hostKey)}` : ""}`);
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
      : printTable(
          ["hostname", "zone", "session", "ssh principal", "browser", "host key", "resume", "created"],
          apps.map((a) => [
            a.hostname,
            a.zone,
            formatDuration(a.sessionLengthMs) + (a.sessionLengthSet ? "" : " (default)"),
            principalWords(a) + (extensionWords(a) ? `, extensions ${extensionWords(a)}` : ""),
            browserWords(a),
            (a.hostKey ? fingerprintOf(a.hostKey) : "-") + (a.refusedHostKey ? ` (refused ${fingerprintOf(a.refusedHostKey)})` : ""),
            graceWords(a),
            when(a.createdAt),
          ]),
          "no applications; add one with: wicket edge app add <hostname>",
        );
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

// wicket edge policy add|edit|move|rm|list|test: who may reach an application, in order.
import { defineCommand } from "citty";
import { readFile } from "node:fs/promises";
import { getPolicies, patchPolicy, postPolicy, postPolicyTest, removePolicy, resolveAdminConnection, type PolicyTestInput } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable } from "../lib/admin-client/output.ts";
import { adminArgs, flagGiven, repeatedFlag } from "../lib/cli/args.ts";
import { EXIT, usageError } from "../lib/cli/exit.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { unreadable } from "../lib/cli/values.ts";
import { describeRules, parseRule } from "../lib/policy/evaluate.ts";

const RULE_HINT = "token:<id-or-name> | any-token | everyone | email:<e-mail> | domain:<domain> | group:<group> | idp:<name> | ip:<cidr> | mfa | workload:<issuer>:<claim>=<value>,…[;principal=<user>]";

const ruleArgs = {
  include: { type: "string", description: `a rule, any of which must match (repeat for more): ${RULE_HINT}`, valueHint: "rule" },
  exclude: { type: "string", description: "a rule that, when it matches, stops this policy matching (repeatable)", valueHint: "rule" },
  require: { type: "string", description: "a rule that must also match (repeatable)", valueHint: "rule" },
} as const;

/** Every value of a repeatable rule flag, each checked here so a typo fails before any request. */
const rulesOf = (rawArgs: string[], args: Record<string, unknown>, flag: string) => repeatedFlag(rawArgs, flag, args[flag]).map((r) => (parseRule(r), r));

function position(raw: unknown, flag = "--position"): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw === "" || !Number.isSafeInteger(n) || n < 0) throw usageError(`${flag} must be a whole number of 0 or more (0 is first), not "${raw}"`);
  return n;
}

const closed = (n: number | undefined) => (n ? `; closed ${n} live session${n === 1 ? "" : "s"} it no longer allows` : "");

const add = defineCommand({
  meta: { name: "add", description: "add a policy to an application; the first policy that matches decides" },
  args: {
    ...adminArgs,
    hostname: { type: "positional", description: "the application, e.g. ssh.example.com or '*.example.com'", required: true },
    name: { type: "string", description: "the policy's name, shown in decisions and audit", required: true },
    action: { type: "enum", options: ["allow", "deny"], description: "allow | deny", required: true },
    ...ruleArgs,
    position: { type: "string", description: "place in the order (0 is first); default: after the last", valueHint: "n" },
  },
  async run({ args, rawArgs }) {
    init(args);
    // citty checks an enum's value but not its presence.
    if (!args.action) throw usageError("pass --action allow or --action deny");
    const include = rulesOf(rawArgs, args, "include");
    if (include.length === 0) throw usageError(`a policy needs at least one --include rule (${RULE_HINT})`);
    const p = await postPolicy(resolveAdminConnection(args), {
      app: args.hostname,
      name: args.name,
      action: args.action,
      include,
      exclude: rulesOf(rawArgs, args, "exclude"),
      require: rulesOf(rawArgs, args, "require"),
      position: position(args.position),
    });
    args.json ? printJson(p) : printLine(`added policy "${p.name}" (${p.id}) to ${p.app} at position ${p.position}: ${p.action} ${describeRules(p.rules)}`);
  },
});

const edit = defineCommand({
  meta: { name: "edit", description: "change a policy: a rule flag replaces all rules of its kind (--exclude '' clears them); live sessions it no longer allows are closed" },
  args: {
    ...adminArgs,
    id: { type: "positional", description: "the policy's id (see list)", required: true },
    name: { type: "string", description: "a new name", valueHint: "name" },
    action: { type: "enum", options: ["allow", "deny"], description: "allow | deny" },
    ...ruleArgs,
    position: { type: "string", description: "move it to this place in the order (0 is first)", valueHint: "n" },
  },
  async run({ args, rawArgs }) {
    init(args);
    const given = (flag: string) => (flagGiven(rawArgs, flag) ? rulesOf(rawArgs, args, flag) : undefined);
    const changes = {
      name: args.name,
      action: args.action,
      include: given("include"),
      exclude: given("exclude"),
      require: given("require"),
      position: position(args.position),
    };
    if (Object.values(changes).every((v) => v === undefined)) throw usageError("say what to change: --name, --action, --include, --exclude, --require or --position");
    if (changes.include?.length === 0) throw usageError(`a policy needs at least one --include rule (${RULE_HINT})`);
    const { policy: p, sessionsClosed } = await patchPolicy(resolveAdminConnection(args), args.id, changes);
    args.json ? printJson({ ...p, sessionsClosed }) : printLine(`changed policy "${p.name}" (${p.id}) of ${p.app}, at position ${p.position}: ${p.action} ${describeRules(p.rules)}${closed(sessionsClosed)}`);
  },
});

const move = defineCommand({
  meta: { name: "move", description: "move a policy to another place in its application's order" },
  args: {
    ...adminArgs,
    id: { type: "positional", description: "the policy's id (see list)", required: true },
    position: { type: "positional", description: "its new place (0 is first; a large number is last)", required: true },
  },
  async run({ args }) {
    init(args);
    const { policy: p, sessionsClosed } = await patchPolicy(resolveAdminConnection(args), args.id, { position: position(args.position, "the position") });
    args.json ? printJson({ ...p, sessionsClosed }) : printLine(`moved policy "${p.name}" (${p.id}) of ${p.app} to position ${p.position}${closed(sessionsClosed)}`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list policies in evaluation order" },
  args: { ...adminArgs, hostname: { type: "positional", description: "only this application's policies", required: false } },
  async run({ args }) {
    init(args);
    const policies = await getPolicies(resolveAdminConnection(args), args.hostname);
    if (args.json) return printJson(policies);
    printTable(
      ["id", "app", "pos", "name", "action", "rules"],
      policies.map((p) => [p.id, p.app, String(p.position), p.name, p.action, describeRules(p.rules)]),
      args.hostname ? `no policies for ${args.hostname}: nobody can connect to it` : "no policies",
    );
  },
});

const rm = defineCommand({
  meta: { name: "rm", description: "remove a policy; live sessions no policy allows any more are closed" },
  args: { ...adminArgs, id: { type: "positional", description: "the policy's id (see list)", required: true } },
  async run({ args }) {
    init(args);
    const { policy: p, sessionsClosed } = await removePolicy(resolveAdminConnection(args), args.id);
    args.json ? printJson(p) : printLine(`removed policy "${p.name}" (${p.id}) from ${p.app}${closed(sessionsClosed)}`);
  },
});

/** `--workload-claims FILE`: a JSON object of claims, as an ID token's payload has them. */
async function readWorkloadClaims(file: string | undefined, issuer: string | undefined): Promise<PolicyTestInput["workload"]> {
  if (!file) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw usageError(`--workload-claims ${file}: ${e instanceof SyntaxError ? "is not JSON" : unreadable(e)}`);
  }
  if (!claims || typeof claims !== "object" || Array.isArray(claims)) throw usageError(`--workload-claims ${file} must hold a JSON object of claims, such as {"repository": "acme/deploy", "ref": "refs/heads/main"}`);
  return { issuer: issuer || "github", claims: claims as Record<string, unknown> };
}

const test = defineCommand({
  meta: { name: "test", description: "say whether a client would be let in, and by which policy and rule, without connecting; exits 0 if allowed, 77 if denied" },
  args: {
    ...adminArgs,
    hostname: { type: "positional", description: "the hostname the client asks for, e.g. ssh.example.com", required: true },
    token: { type: "string", description: "as this service token (id or name)", valueHint: "id-or-name" },
    email: { type: "string", description: "as the user with this e-mail", valueHint: "e-mail" },
    group: { type: "string", description: "the user is in this IdP group (repeatable)", valueHint: "group" },
    idp: { type: "string", description: "the user signed in with this identity provider", valueHint: "name" },
    mfa: { type: "boolean", description: "the user signed in with a second factor", default: false },
    amr: { type: "string", description: "an authentication method the user signed in with, as in the amr claim (repeatable), e.g. pwd, otp", valueHint: "method" },
    ip: { type: "string", description: "from this client address", valueHint: "address" },
    "workload-claims": { type: "string", description: "as a workload whose ID token says this: a JSON file of its claims (a decoded token's payload)", valueHint: "file" },
    "workload-issuer": { type: "string", description: "with --workload-claims: the issuer's name in workload-issuers (default: github)", valueHint: "name" },
  },
  async run({ args, rawArgs }) {
    init(args);
    const workload = await readWorkloadClaims(args["workload-claims"], args["workload-issuer"]);
    if (!args.token && !args.email && !workload) throw usageError("say who is asking: --token <id-or-name> or --email <e-mail>, or a workload with --workload-claims <file>");
    const amr = repeatedFlag(rawArgs, "amr", args.amr);
    if (args.mfa) amr.push("mfa");
    const r = await postPolicyTest(resolveAdminConnection(args), {
      host: args.hostname,
      token: args.token,
      email: args.email,
      groups: repeatedFlag(rawArgs, "group", args.group),
      idp: args.idp,
      amr,
      ip: args.ip,
      workload,
    });
    if (args.json) printJson(r);
    else {
      printLine(r.message);
      printLine(`application: ${r.app ?? "(none)"}`);
      printLine(`policy:      ${r.decision.policy ? `"${r.decision.policy.name}" (${r.decision.policy.id})` : "(none matched)"}`);
      printLine(`rule:        ${r.decision.rule ?? "(none)"}`);
    }
    // Scripts check policies with it: `wicket edge policy test H --token ci && …`.
    if (!r.decision.allowed) process.exitCode = EXIT.denied;
  },
});

const cmd = defineCommand({
  meta: { name: "policy", description: "manage access policies: who may reach each application, in order" },
  subCommands: { add, edit, move, list, rm, test },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

// wicket edge policy add|list|rm: who may reach an application, in order.
import { defineCommand } from "citty";
import { deletePolicy, getPolicies, postPolicy, resolveAdminConnection } from "../lib/admin/client.ts";
import { repeatedFlag } from "../lib/admin/args.ts";
import { describeRules, printJson, printLine, printTable } from "../lib/admin/output.ts";
import { adminArgs, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { parseRule } from "../lib/policy/evaluate.ts";

const common = { ...logArgs, ...adminArgs } as const;
const RULE_HINT = "token:<id-or-name> | any-token | everyone";

const add = defineCommand({
  meta: { name: "add", description: "add a policy to an application; the first policy that matches decides" },
  args: {
    ...common,
    hostname: { type: "positional", description: "the application, e.g. ssh.example.com or '*.example.com'", required: true },
    name: { type: "string", description: "the policy's name, shown in decisions and audit", required: true },
    action: { type: "enum", options: ["allow", "deny"], description: "allow | deny", required: true },
    include: { type: "string", description: `a rule, any of which must match (repeat for more): ${RULE_HINT}`, valueHint: "rule" },
    exclude: { type: "string", description: "a rule that, when it matches, stops this policy matching (repeatable)", valueHint: "rule" },
    require: { type: "string", description: "a rule that must also match (repeatable)", valueHint: "rule" },
    position: { type: "string", description: "place in the order (0 is first); default: after the last", valueHint: "n" },
  },
  async run({ args, rawArgs }) {
    init(args);
    // Parse here too, so a typo fails before any request is made.
    const rules = (flag: string) => repeatedFlag(rawArgs, flag, args[flag]).map((r) => (parseRule(r), r));
    // citty checks an enum's value but not its presence.
    if (!args.action) throw usageError("pass --action allow or --action deny");
    const include = rules("include");
    if (include.length === 0) throw usageError(`a policy needs at least one --include rule (${RULE_HINT})`);
    let position: number | undefined;
    if (args.position !== undefined) {
      position = Number(args.position);
      if (!Number.isSafeInteger(position) || position < 0) throw usageError(`--position must be a whole number of 0 or more, not "${args.position}"`);
    }
    const p = await postPolicy(resolveAdminConnection(args), {
      app: args.hostname,
      name: args.name,
      action: args.action,
      include,
      exclude: rules("exclude"),
      require: rules("require"),
      position,
    });
    args.json ? printJson(p) : printLine(`added policy "${p.name}" (${p.id}) to ${p.app} at position ${p.position}: ${p.action} ${describeRules(p.rules)}`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "list policies in evaluation order" },
  args: { ...common, hostname: { type: "positional", description: "only this application's policies", required: false } },
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
  meta: { name: "rm", description: "remove a policy" },
  args: { ...common, id: { type: "positional", description: "the policy's id (see list)", required: true } },
  async run({ args }) {
    init(args);
    const p = await deletePolicy(resolveAdminConnection(args), args.id);
    args.json ? printJson(p) : printLine(`removed policy "${p.name}" (${p.id}) from ${p.app}`);
  },
});

const cmd = defineCommand({
  meta: { name: "policy", description: "manage access policies: who may reach each application" },
  subCommands: { add, list, rm },
});

export default cmd;

if (import.meta.main) runCommand(cmd);

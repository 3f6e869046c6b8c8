// Access policies per application, kept in order by `position`. Rules are stored as JSON
// text; the evaluator in lib/policy decides with them.
import { randomId } from "../auth/secret.ts";
import { toRule, type Policy, type PolicyAction, type Rule } from "../policy/evaluate.ts";
import type { Store } from "./open.ts";
import { isUniqueViolation, ms } from "./open.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { getServiceToken } from "./service-tokens.ts";

export type StoredPolicy = Policy & { app: string; createdAt: number };

export type NewPolicy = {
  /** The application's hostname as stored: `ssh.site.com` or `*.site.com`. */
  app: string;
  name: string;
  action: PolicyAction | string;
  /** Rules as objects or as rule strings (`token:ci`, `any-token`, `everyone`). */
  include: unknown[];
  exclude?: unknown[];
  require?: unknown[];
  /** Where it goes in the order; after the last policy of the app when omitted. */
  position?: number;
};

function parseRules(rules: unknown[] | undefined, what: string): Rule[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw invalid(`the ${what} rules must be a list`);
  return rules.map(toRule);
}

function toPolicy(r: any): StoredPolicy {
  const rules = JSON.parse(r.rules);
  return {
    id: r.id,
    app: r.app,
    name: r.name,
    action: r.action,
    position: Number(r.position),
    rules: { include: rules.include ?? [], exclude: rules.exclude ?? [], require: rules.require ?? [] },
    createdAt: ms(r.created_at),
  };
}

export async function addPolicy(store: Store, p: NewPolicy): Promise<StoredPolicy> {
  const app = String(p.app ?? "").trim().toLowerCase().replace(/\.$/, "");
  const name = typeof p.name === "string" ? p.name.trim() : "";
  if (!name || name.length > 100 || /[\x00-\x1f]/.test(name)) throw invalid(`a policy needs a name of 1 to 100 printable characters; pass --name`);
  if (p.action !== "allow" && p.action !== "deny") throw invalid(`the action "${p.action}" is not valid; use allow or deny`);
  const rules = { include: parseRules(p.include, "include"), exclude: parseRules(p.exclude, "exclude"), require: parseRules(p.require, "require") };
  if (rules.include.length === 0) throw invalid(`a policy needs at least one include rule, e.g. --include token:ci`);
  if (p.position !== undefined && (!Number.isSafeInteger(p.position) || p.position < 0)) throw invalid(`the position must be a whole number of 0 or more`);

  const [appRow] = await store.sql`SELECT hostname FROM apps WHERE hostname = ${app}`;
  if (!appRow) throw notFound(`there is no application "${app}"; add it first with "wicket edge app add ${app}"`);
  // Catch a mistyped token now rather than as a silent "no match" at connection time.
  for (const r of [...rules.include, ...rules.exclude, ...rules.require]) {
    if (r.kind === "token" && !(await getServiceToken(store, r.value))) {
      throw invalid(`there is no service token "${r.value}"; create it with "wicket edge token create ${r.value}" or see "wicket edge token list"`);
    }
  }

  const id = randomId("pol_", 6);
  const createdAt = Date.now();
  try {
    return await store.sql.begin(async (tx) => {
      let position = p.position;
      if (position === undefined) {
        const [row] = await tx`SELECT MAX(position) AS m FROM policies WHERE app = ${app}`;
        position = row.m === null || row.m === undefined ? 0 : Number(row.m) + 1;
      }
      await tx`INSERT INTO policies (id, app, name, action, position, rules, created_at)
               VALUES (${id}, ${app}, ${name}, ${p.action}, ${position}, ${JSON.stringify(rules)}, ${createdAt})`;
      return { id, app, name, action: p.action as PolicyAction, position, rules, createdAt };
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the application "${app}" already has a policy named "${name}"; choose another name or remove that one`);
    throw e;
  }
}

/** Policies in evaluation order: of one application, or of all (grouped by application). */
export async function listPolicies(store: Store, app?: string): Promise<StoredPolicy[]> {
  const rows = app
    ? await store.sql`SELECT * FROM policies WHERE app = ${app.trim().toLowerCase().replace(/\.$/, "")} ORDER BY position, created_at, id`
    : await store.sql`SELECT * FROM policies ORDER BY app, position, created_at, id`;
  return rows.map(toPolicy);
}

export async function removePolicy(store: Store, id: string): Promise<StoredPolicy> {
  const [row] = await store.sql`SELECT * FROM policies WHERE id = ${id}`;
  if (!row) throw notFound(`there is no policy "${id}"; see "wicket edge policy list"`);
  await store.sql`DELETE FROM policies WHERE id = ${id}`;
  return toPolicy(row);
}

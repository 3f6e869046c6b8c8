// Access policies per application, kept in order by `position`. Rules are stored as JSON
// text; the evaluator in lib/policy decides with them.
import { randomId } from "../auth/secret.ts";
import { toRule, type Policy, type PolicyAction, type PolicyRules, type Rule } from "../policy/evaluate.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { isUniqueViolation, ms } from "./open.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { getServiceToken } from "./service-tokens.ts";
import { bumpAccessRevision } from "./revision.ts";
import type { SQL } from "bun";

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

/** `rules` is JSON text: the include, exclude and require lists. */
type PolicyRow = { id: string; app: string; name: string; action: PolicyAction; position: number; rules: string; created_at: BigIntColumn };

function toPolicy(r: PolicyRow): StoredPolicy {
  const rules: Partial<PolicyRules> = JSON.parse(r.rules);
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

const normApp = (app: unknown) => String(app ?? "").trim().toLowerCase().replace(/\.$/, "");

function checkName(name: unknown): string {
  const n = typeof name === "string" ? name.trim() : "";
  if (!n || n.length > 100 || /[\x00-\x1f]/.test(n)) throw invalid(`a policy needs a name of 1 to 100 printable characters; pass --name`);
  return n;
}

function checkAction(action: unknown): PolicyAction {
  if (action !== "allow" && action !== "deny") throw invalid(`the action "${action}" is not valid; use allow or deny`);
  return action;
}

function checkPosition(position: unknown): number | undefined {
  if (position === undefined || position === null) return undefined;
  if (typeof position !== "number" || !Number.isSafeInteger(position) || position < 0) throw invalid(`the position must be a whole number of 0 or more`);
  return position;
}

// Catch a mistyped token now rather than as a silent "no match" at connection time.
async function checkTokens(store: Store, rules: PolicyRules) {
  for (const r of [...rules.include, ...rules.exclude, ...rules.require]) {
    if (r.kind === "token" && !(await getServiceToken(store, r.value))) {
      throw invalid(`there is no service token "${r.value}"; create it with "wicket edge token create ${r.value}" or see "wicket edge token list"`);
    }
  }
}

/**
 * Puts policy `id` at `index` (0 is first; past the end is last) in its application's order
 * and renumbers the others 0, 1, 2 … so positions stay dense and unique.
 */
async function placeAt(tx: SQL, app: string, id: string, index: number | undefined): Promise<number> {
  const rows: { id: string }[] = await tx`SELECT id FROM policies WHERE app = ${app} ORDER BY position, created_at, id`;
  const ids = rows.map((r) => r.id).filter((x) => x !== id);
  const at = index === undefined ? ids.length : Math.min(index, ids.length);
  ids.splice(at, 0, id);
  for (let i = 0; i < ids.length; i++) await tx`UPDATE policies SET position = ${i} WHERE id = ${ids[i]!} AND position <> ${i}`;
  return at;
}

export async function addPolicy(store: Store, p: NewPolicy): Promise<StoredPolicy> {
  const app = normApp(p.app);
  const name = checkName(p.name);
  const action = checkAction(p.action);
  const rules = { include: parseRules(p.include, "include"), exclude: parseRules(p.exclude, "exclude"), require: parseRules(p.require, "require") };
  if (rules.include.length === 0) throw invalid(`a policy needs at least one include rule, e.g. --include token:ci`);
  const index = checkPosition(p.position);

  const [appRow]: { hostname: string }[] = await store.sql`SELECT hostname FROM apps WHERE hostname = ${app}`;
  if (!appRow) throw notFound(`there is no application "${app}"; add it first with "wicket edge app add ${app}"`);
  await checkTokens(store, rules);

  const id = randomId("pol_", 6);
  const createdAt = Date.now();
  try {
    return await store.sql.begin(async (tx) => {
      await tx`INSERT INTO policies (id, app, name, action, position, rules, created_at)
               VALUES (${id}, ${app}, ${name}, ${action}, ${2 ** 31 - 1}, ${JSON.stringify(rules)}, ${createdAt})`;
      const position = await placeAt(tx, app, id, index);
      await bumpAccessRevision(tx);
      return { id, app, name, action, position, rules, createdAt };
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the application "${app}" already has a policy named "${name}"; choose another name or remove that one`);
    throw e;
  }
}

export type PolicyChanges = {
  name?: string;
  action?: PolicyAction | string;
  /** A list replaces the policy's rules of that kind; an empty exclude or require list clears them. */
  include?: unknown[];
  exclude?: unknown[];
  require?: unknown[];
  /** Moves the policy to this place in its application's order (0 is first). */
  position?: number;
};

/** Changes a policy's name, action, rules or place in the order; what is not given stays. */
export async function editPolicy(store: Store, id: string, changes: PolicyChanges): Promise<StoredPolicy> {
  const [row]: PolicyRow[] = await store.sql`SELECT * FROM policies WHERE id = ${id}`;
  if (!row) throw notFound(`there is no policy "${id}"; see "wicket edge policy list"`);
  const old = toPolicy(row);
  const name = changes.name === undefined ? old.name : checkName(changes.name);
  const action = changes.action === undefined ? old.action : checkAction(changes.action);
  const rules: PolicyRules = {
    include: changes.include === undefined ? old.rules.include : parseRules(changes.include, "include"),
    exclude: changes.exclude === undefined ? old.rules.exclude : parseRules(changes.exclude, "exclude"),
    require: changes.require === undefined ? old.rules.require : parseRules(changes.require, "require"),
  };
  if (rules.include.length === 0) throw invalid(`a policy needs at least one include rule, e.g. --include token:ci`);
  const index = checkPosition(changes.position);
  if (changes.include || changes.exclude || changes.require) await checkTokens(store, rules);
  try {
    return await store.sql.begin(async (tx) => {
      await tx`UPDATE policies SET name = ${name}, action = ${action}, rules = ${JSON.stringify(rules)} WHERE id = ${id}`;
      const position = index === undefined ? old.position : await placeAt(tx, old.app, id, index);
      await bumpAccessRevision(tx);
      return { ...old, name, action, rules, position };
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the application "${old.app}" already has a policy named "${name}"; choose another name`);
    throw e;
  }
}

/** Policies in evaluation order: of one application, or of all (grouped by application). */
export async function listPolicies(store: Store, app?: string): Promise<StoredPolicy[]> {
  const rows: PolicyRow[] = app
    ? await store.sql`SELECT * FROM policies WHERE app = ${app.trim().toLowerCase().replace(/\.$/, "")} ORDER BY position, created_at, id`
    : await store.sql`SELECT * FROM policies ORDER BY app, position, created_at, id`;
  return rows.map(toPolicy);
}

export async function removePolicy(store: Store, id: string): Promise<StoredPolicy> {
  const [row]: PolicyRow[] = await store.sql`SELECT * FROM policies WHERE id = ${id}`;
  if (!row) throw notFound(`there is no policy "${id}"; see "wicket edge policy list"`);
  await store.sql.begin(async (tx) => {
    await tx`DELETE FROM policies WHERE id = ${id}`;
    await bumpAccessRevision(tx);
  });
  return toPolicy(row);
}

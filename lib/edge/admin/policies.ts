// Policies of an application, in order, and what-if tests (`wicket edge policy`).
import { normalizeIp } from "../../policy/cidr.ts";
import { decisionMessage, describeRules, type Subject } from "../../policy/evaluate.ts";
import type { Workload } from "../../policy/workload.ts";
import { addPolicy, editPolicy, getServiceToken, listApps, listPolicies, removePolicy } from "../../store/index.ts";
import { isEdgeAdmin, visibleTo } from "./authz.ts";
import { decide } from "../decisions/authorize.ts";
import { HttpError, json, readBody, field, type Route, record, recheck, optString, optStrings, ruleList } from "./common.ts";

/** The audit fields that name a policy. */
const policyTarget = (p: { id: string; app: string; name: string }) => ({ target: p.id, host: p.app, policyId: p.id, policyName: p.name });

/** `{ issuer, claims }` of `edge policy test --workload-claims`: the claims of an ID token, as the edge would keep them. */
function testWorkload(x: unknown): Workload | undefined {
  if (x === undefined || x === null) return undefined;
  const { issuer, claims } = (typeof x === "object" ? x : {}) as { issuer?: unknown; claims?: unknown };
  if (typeof issuer !== "string" || !issuer) throw new HttpError(400, `"workload.issuer" must name an issuer of workload-issuers, e.g. github`);
  if (!claims || typeof claims !== "object" || Array.isArray(claims)) throw new HttpError(400, `"workload.claims" must be the JSON object of an ID token's claims`);
  const c = claims as Record<string, unknown>;
  return { issuer, subject: typeof c.sub === "string" ? c.sub : "", claims: c };
}

export const policyRoutes: Record<string, Route> = {
  "GET policies": async (_req, ctx, _arg, who, url) => {
    const policies = await listPolicies(ctx.store, url.searchParams.get("app") || undefined);
    if (isEdgeAdmin(who)) return json(200, { policies });
    const zoneOf = new Map((await listApps(ctx.store)).map((a) => [a.hostname, a.zone]));
    return json(200, { policies: policies.filter((p) => visibleTo(who)(zoneOf.get(p.app))) });
  },
  "POST policies": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    if (b.position !== undefined && typeof b.position !== "number") throw new HttpError(400, `"position" must be a number`);
    const policy = await addPolicy(ctx.store, {
      app: field(b, "app", "hostname"),
      name: field(b, "name"),
      action: field(b, "action"),
      include: ruleList(b, "include") ?? [],
      exclude: ruleList(b, "exclude"),
      require: ruleList(b, "require"),
      position: b.position as number | undefined,
    });
    await record(ctx, who, "policy.add", `added policy "${policy.name}" (${policy.id}) to ${policy.app} at position ${policy.position}: ${policy.action} ${describeRules(policy.rules)}`, policyTarget(policy));
    return json(201, { policy, sessionsClosed: await recheck(ctx) });
  },
  "PATCH policies/:": async (req, ctx, arg, who) => {
    const b = await readBody(req);
    if (b.position !== undefined && typeof b.position !== "number") throw new HttpError(400, `"position" must be a number`);
    const policy = await editPolicy(ctx.store, arg, {
      name: optString(b, "name"),
      action: optString(b, "action"),
      include: ruleList(b, "include"),
      exclude: ruleList(b, "exclude"),
      require: ruleList(b, "require"),
      position: b.position as number | undefined,
    });
    await record(ctx, who, "policy.edit", `changed policy "${policy.name}" (${policy.id}) of ${policy.app}, now at position ${policy.position}: ${policy.action} ${describeRules(policy.rules)}`, policyTarget(policy));
    return json(200, { policy, sessionsClosed: await recheck(ctx) });
  },
  "DELETE policies/:": async (_req, ctx, arg, who) => {
    const policy = await removePolicy(ctx.store, arg);
    await record(ctx, who, "policy.remove", `removed policy "${policy.name}" (${policy.id}) from ${policy.app}`, policyTarget(policy));
    return json(200, { policy, sessionsClosed: await recheck(ctx) });
  },
  "POST policy-test": async (req, ctx) => {
    const b = await readBody(req);
    const host = field(b, "host", "hostname").trim().toLowerCase();
    const subject: Subject = {};
    const token = optString(b, "token");
    const email = optString(b, "email");
    if (token && email) throw new HttpError(400, "a client is either a service token or a user; pass --token or --email, not both");
    const workload = testWorkload(b.workload);
    if (workload && (token || email)) throw new HttpError(400, "a client is a workload, a service token or a user; pass one of --workload-claims, --token and --email");
    if (workload) subject.workload = workload;
    if (token) {
      const t = await getServiceToken(ctx.store, token);
      if (!t) throw new HttpError(400, `there is no service token "${token}"; see "wicket edge token list"`);
      subject.serviceToken = { id: t.id, name: t.name };
    }
    if (email) subject.email = email;
    const groups = optStrings(b, "groups");
    if (groups?.length) subject.groups = groups;
    const idp = optString(b, "idp");
    if (idp) subject.idp = idp;
    const amr = optStrings(b, "amr");
    if (amr?.length) subject.amr = amr;
    const ipText = optString(b, "ip");
    if (ipText) {
      const ip = normalizeIp(ipText);
      if (!ip) throw new HttpError(400, `"${ipText}" is not an IPv4 or IPv6 address`);
      subject.ip = ip;
    }
    const { app, decision } = await decide(ctx.store, host, subject);
    return json(200, { host, app: app?.hostname ?? null, subject, decision, message: decisionMessage(host, decision) });
  },

};

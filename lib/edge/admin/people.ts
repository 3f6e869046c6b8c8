// People as admins: the edge's admins (`admins:` in edge.yaml, `--admin` on `edge serve`: rules
// in the policy grammar, optionally `admins-require: mfa`) and the zones' own admins (the
// store's zone_admins). Who someone is comes from the edge's own sign-in: the org session of
// `wicket edge login` (a bearer) or of the browser (the console). What they administer is
// worked out again on every request, from the store and this node's settings: a person taken
// off a zone loses it at once on every node.
import { evaluate, formatRule, parseRule, type Rule } from "../../policy/evaluate.ts";
import { userRevokedBefore, zonesAdministeredBy, type SignIn, type Store } from "../../store/index.ts";
import type { Admin } from "./authz.ts";

/** Who administers the whole edge: people matching any rule (and the requirement, if any). */
export type EdgeAdmins = { rules: Rule[]; requireMfa: boolean };

/** The rules as written (`email:ops@site.com`, `domain:site.com`, `group:platform`), checked; a token rule is no person. */
export function parseEdgeAdmins(rules: readonly string[], require?: string): EdgeAdmins {
  const parsed = rules.map((r) => parseRule(r));
  const bad = parsed.find((r) => r.kind === "token" || r.kind === "any-token");
  if (bad) throw new Error(`"${formatRule(bad)}" names a service token, which cannot administer; give people: email:, domain:, group: or idp: rules`);
  if (require !== undefined && require !== "mfa") throw new Error(`admins-require must be mfa, not "${require}"`);
  return { rules: parsed, requireMfa: require === "mfa" };
}

/** Whether this person is an edge admin, from this address. */
export function isEdgeAdminPerson(admins: EdgeAdmins | undefined, who: SignIn, ip?: string): boolean {
  if (!admins || admins.rules.length === 0) return false;
  const policy = { id: "edge-admins", name: "edge admins", action: "allow" as const, position: 1, rules: { include: admins.rules, exclude: [], require: admins.requireMfa ? [parseRule("mfa")] : [] } };
  return evaluate([policy], { email: who.email, groups: who.groups, idp: who.idp, amr: who.amr, ip }).allowed;
}

/** For the PIN sign-in: whether the edge's admins name this mailbox (a PIN carries no groups and one factor). */
export const adminMailbox = (admins: EdgeAdmins | undefined) => (email: string, idp: string) =>
  isEdgeAdminPerson(admins && { ...admins, requireMfa: false }, { email, idp, groups: [], amr: ["email"], id: "", kind: "browser", ip: "", createdAt: 0, signedInAt: 0, expiresAt: 0 });

/** The caller a signed-in person is, or the sentence that says why they may not administer. */
export async function personCaller(store: Store, admins: EdgeAdmins | undefined, s: SignIn, ip?: string): Promise<Admin | { refused: string }> {
  const before = await userRevokedBefore(store, s.email.toLowerCase());
  if (before !== undefined && s.createdAt < before) return { refused: `the sign-in of ${s.email} was revoked; sign in again with wicket edge login` };
  const edge = isEdgeAdminPerson(admins, s, ip);
  const zones = edge ? [] : await zonesAdministeredBy(store, s);
  if (!edge && zones.length === 0) return { refused: nothingSentence(s) };
  return { kind: "person", email: s.email, idp: s.idp, groups: s.groups, amr: s.amr, edge, zones, ip };
}

/** For a refreshed `edge login`: why this person may not administer now, if so. */
export const adminRefusal = (store: Store, admins: EdgeAdmins | undefined) => async (s: SignIn, ip?: string) => {
  const who = await personCaller(store, admins, s, ip);
  return "refused" in who ? who.refused : undefined;
};

export const nothingSentence = (s: { email: string; idp: string }) =>
  `${s.email} (signed in with ${s.idp}) administers nothing on this edge; an edge admin can make you a zone's admin with: wicket edge zone edit <zone> --add-admin ${s.email}`;

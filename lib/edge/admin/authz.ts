// Who is calling the admin API, and what they may do. Every route goes through authorize()
// with what it touches (lib/edge/admin/access.ts): the whole edge, one zone (looked up in the
// store from the hostname or id the request names), or a listing, which the route filters to
// the caller's zones. A zone's own admins hold it alone: an admin of site.com has no say over
// a nested zone eu.site.com, which the store keeps its resources in.
import type { AdminToken } from "../../store/index.ts";

export type Admin =
  | { kind: "token"; id: string; name: string; zone?: string; readOnly: boolean; ip?: string }
  | { kind: "person"; email: string; idp: string; groups: string[]; amr: string[]; edge: boolean; zones: string[]; ip?: string };

/** What a route touches: the whole edge; one zone (`undefined`: none, so only edge admins); or a list the route filters. */
export type Target = { edge: true } | { zone: string | undefined; found: boolean; what: string; arg?: string } | { list: true };

export const tokenCaller = (t: AdminToken, ip?: string): Admin => ({ kind: "token", id: t.id, name: t.name, zone: t.zone, readOnly: t.readOnly, ip });

/** The name the audit and the log give the caller: a person's e-mail, an admin token's name. */
export const adminName = (who: Admin) => (who.kind === "person" ? who.email : who.name);

/** Whether the caller administers the whole edge. */
export const isEdgeAdmin = (who: Admin) => (who.kind === "person" ? who.edge : who.zone === undefined);

/** The zones the caller administers; "all" for an edge admin. */
export const adminZones = (who: Admin): "all" | string[] => (isEdgeAdmin(who) ? "all" : who.kind === "person" ? who.zones : [who.zone!]);

/** Whether the caller may act on a resource of this zone (undefined: edge-wide). */
export function mayIn(who: Admin, zone: string | undefined): boolean {
  const zones = adminZones(who);
  return zones === "all" || (zone !== undefined && zones.includes(zone));
}

/** A predicate for listings: keeps what lies in the caller's zones. */
export const visibleTo = (who: Admin) => (zone: string | undefined) => mayIn(who, zone);

const whoWords = (who: Admin) => (who.kind === "person" ? who.email : `the admin token "${who.name}"`);
const theirZones = (who: Admin) => {
  const z = adminZones(who);
  return z === "all" ? "every zone" : z.length ? `the zone${z.length === 1 ? "" : "s"} ${z.join(", ")}` : "no zone";
};

/** Why the caller may not do this, in one sentence; undefined when they may. */
export function refusal(who: Admin, target: Target, write: boolean): string | undefined {
  if (write && who.kind === "token" && who.readOnly) return `${whoWords(who)} is read-only; use a token that may write, or ask an edge admin`;
  if ("list" in target) return undefined;
  if ("edge" in target) return isEdgeAdmin(who) ? undefined : `only an edge admin may do this, and ${whoWords(who)} administers ${theirZones(who)}; ask an edge admin`;
  if (mayIn(who, target.zone)) return undefined;
  // the same sentence whether or not it exists: another zone's names are not to be probed
  return `${whoWords(who)} administers ${theirZones(who)}, and ${target.what} is not in ${adminZones(who) === "all" ? "any" : "them"}; ask an admin of its zone`;
}

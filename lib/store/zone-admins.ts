// Who administers a zone: people who may connect servers to it with `wicket tunnel login`.
// A principal is an e-mail address (`email:alice@site.com`) or an IdP group (`group:ops`).
import type { Store } from "./open.ts";
import { invalid, notFound } from "./errors.ts";
import { getZone } from "./zones.ts";

/** `alice@site.com`, `email:alice@site.com` or `group:ops`, as stored: `email:…` lower-cased or `group:…`. */
export function parseZoneAdmin(input: string): string {
  const s = String(input ?? "").trim();
  if (s.startsWith("group:") && s.length > 6 && !/\s/.test(s)) return s;
  const email = s.startsWith("email:") ? s.slice(6) : s;
  if (/^[^@\s:]+@[^@\s]+$/.test(email)) return `email:${email.toLowerCase()}`;
  throw invalid(`"${input}" is not a zone admin; use an e-mail address (alice@example.com) or a group (group:ops)`);
}

export async function addZoneAdmins(store: Store, zone: string, principals: string[]): Promise<string[]> {
  const z = await getZone(store, zone);
  if (!z) throw notFound(`there is no zone "${zone}"; add it first with "wicket edge zone add ${zone}"`);
  const parsed = principals.map(parseZoneAdmin);
  const now = Date.now();
  for (const p of parsed) await store.sql`INSERT INTO zone_admins (zone, principal, created_at) VALUES (${z.name}, ${p}, ${now}) ON CONFLICT (zone, principal) DO NOTHING`;
  return listZoneAdmins(store, z.name);
}

/** Takes principals off a zone's admins; one that is not there is an error, named. */
export async function removeZoneAdmins(store: Store, zone: string, principals: string[]): Promise<string[]> {
  const z = await getZone(store, zone);
  if (!z) throw notFound(`there is no zone "${zone}"`);
  const parsed = principals.map(parseZoneAdmin);
  const have = await listZoneAdmins(store, z.name);
  const missing = parsed.find((p) => !have.includes(p));
  if (missing) throw notFound(`${missing} is not an admin of the zone ${z.name}; its admins are ${have.join(", ") || "none"}`);
  for (const p of parsed) await store.sql`DELETE FROM zone_admins WHERE zone = ${z.name} AND principal = ${p}`;
  return listZoneAdmins(store, z.name);
}

export async function listZoneAdmins(store: Store, zone: string): Promise<string[]> {
  const rows: { principal: string }[] = await store.sql`SELECT principal FROM zone_admins WHERE zone = ${zone} ORDER BY principal`;
  return rows.map((r) => r.principal);
}

/** The zones this person administers, by e-mail or by any of their groups. */
export async function zonesAdministeredBy(store: Store, who: { email: string; groups: string[] }): Promise<string[]> {
  const principals = [`email:${who.email.toLowerCase()}`, ...who.groups.map((g) => `group:${g}`)];
  const rows: { zone: string }[] = await store.sql`SELECT DISTINCT zone FROM zone_admins WHERE principal IN ${store.sql(principals)} ORDER BY zone`;
  return rows.map((r) => r.zone);
}

/** Whether this mailbox administers some zone by name (`email:…`; a group needs a sign-in that carries groups). */
export async function administersByEmail(store: Store, email: string): Promise<boolean> {
  const rows = await store.sql`SELECT zone FROM zone_admins WHERE principal = ${`email:${email.toLowerCase()}`} LIMIT 1`;
  return rows.length > 0;
}

/** The rules of `zone` that let this person administer it: what a credential from `tunnel login` was granted by. */
export async function zoneAdminGrants(store: Store, zone: string, who: { email: string; groups: string[] }): Promise<string[]> {
  const principals = [`email:${who.email.toLowerCase()}`, ...who.groups.map((g) => `group:${g}`)];
  const rows: { principal: string }[] = await store.sql`SELECT principal FROM zone_admins WHERE zone = ${zone} AND principal IN ${store.sql(principals)} ORDER BY principal`;
  return rows.map((r) => r.principal);
}

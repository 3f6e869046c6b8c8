// What the admin API's authorisation looks up: the zone a resource belongs to, by the name or
// id a request gives, read from the store (never from the request's body), and the zone of
// service tokens, which a zone's admins make for their zone.
import type { Store } from "./open.ts";
import { listZones, zoneFor } from "./zones.ts";

/** Where a resource lies: `found` false when there is none by that name or id. */
export type Owner = { found: boolean; zone?: string; id?: string };

/** The zone a hostname (or `*.zone`) lies in, by the store's zones now. */
export async function zoneOfName(store: Store, hostname: string): Promise<string | undefined> {
  const name = String(hostname ?? "").trim().toLowerCase().replace(/\.$/, "").replace(/^\*\./, "");
  return zoneFor(name, (await listZones(store)).map((z) => z.name));
}

/** An application by its hostname as stored: its zone; else the zone its name would lie in. */
export async function appOwner(store: Store, hostname: string): Promise<Owner> {
  const name = String(hostname ?? "").trim().toLowerCase().replace(/\.$/, "");
  const [row]: { zone: string }[] = await store.sql`SELECT zone FROM apps WHERE hostname = ${name}`;
  return row ? { found: true, zone: row.zone } : { found: false, zone: await zoneOfName(store, name) };
}

export async function policyOwner(store: Store, id: string): Promise<Owner> {
  const [row]: { zone: string; id: string }[] = await store.sql`SELECT a.zone, p.id FROM policies p JOIN apps a ON a.hostname = p.app WHERE p.id = ${id}`;
  return row ? { found: true, zone: row.zone, id: row.id } : { found: false };
}

/** A live service token by id or name. */
export async function serviceTokenOwner(store: Store, idOrName: string): Promise<Owner> {
  const [row]: { zone: string | null; id: string }[] = await store.sql`SELECT id, zone FROM service_tokens WHERE revoked_at IS NULL AND (id = ${idOrName} OR name = ${idOrName})`;
  return row ? { found: true, zone: row.zone ?? undefined, id: row.id } : { found: false };
}

export async function setServiceTokenZone(store: Store, id: string, zone: string): Promise<void> {
  await store.sql`UPDATE service_tokens SET zone = ${zone} WHERE id = ${id}`;
}

/** Each live service token's zone (absent: edge-wide). */
export async function serviceTokenZones(store: Store): Promise<Map<string, string>> {
  const rows: { id: string; zone: string | null }[] = await store.sql`SELECT id, zone FROM service_tokens WHERE revoked_at IS NULL AND zone IS NOT NULL`;
  return new Map(rows.map((r) => [r.id, r.zone!]));
}

export async function zoneCredentialOwner(store: Store, id: string): Promise<Owner> {
  const [row]: { zone: string; id: string }[] = await store.sql`SELECT id, zone FROM zone_credentials WHERE id = ${id}`;
  return row ? { found: true, zone: row.zone, id: row.id } : { found: false };
}

/** A tunnel by id (names are per zone: the admin API takes ids, or a name within the caller's one zone). */
export async function tunnelOwner(store: Store, ref: string, zones?: string[]): Promise<Owner> {
  const rows: { zone: string; id: string }[] = zones
    ? await store.sql`SELECT id, zone FROM tunnels WHERE id = ${ref} OR (name = ${ref} AND zone IN ${store.sql(zones.length ? zones : [""])})`
    : await store.sql`SELECT id, zone FROM tunnels WHERE id = ${ref}`;
  const row = rows.find((r) => r.id === ref) ?? (rows.length === 1 ? rows[0] : undefined);
  return row ? { found: true, zone: row.zone, id: row.id } : { found: false };
}

export async function recordingOwner(store: Store, id: string): Promise<Owner> {
  const [row]: { host: string; id: string }[] = await store.sql`SELECT id, host FROM recordings WHERE id = ${id}`;
  return row ? { found: true, zone: await zoneOfName(store, row.host), id: row.id } : { found: false };
}

// Zone credentials: what `tunnel login` saves as cert.pem, letting a connector claim
// hostnames in one zone. The store keeps only the secret's hash.
import { hashSecret, randomId, randomSecret, verifySecret, ZONE_CREDENTIAL_ID_PREFIX } from "../auth/secret.ts";
import type { Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";
import { notFound } from "./errors.ts";
import { getZone } from "./zones.ts";

export type ZoneCredential = { id: string; zone: string; createdAt: number; revokedAt?: number };

const toCredential = (r: any): ZoneCredential => {
  const c: ZoneCredential = { id: r.id, zone: r.zone, createdAt: ms(r.created_at) };
  const revokedAt = msOrUndefined(r.revoked_at);
  if (revokedAt !== undefined) c.revokedAt = revokedAt;
  return c;
};

/** A new credential for an existing zone; the secret in the result is the only copy there will be. */
export async function createZoneCredential(store: Store, zone: string): Promise<{ id: string; zone: string; secret: string }> {
  const z = await getZone(store, zone);
  if (!z) throw notFound(`there is no zone "${zone}"; add it first with "wicket edge zone add ${zone}"`);
  const id = randomId(ZONE_CREDENTIAL_ID_PREFIX);
  const secret = randomSecret();
  await store.sql`INSERT INTO zone_credentials (id, zone, secret_hash, created_at) VALUES (${id}, ${z.name}, ${hashSecret(secret)}, ${Date.now()})`;
  return { id, zone: z.name, secret };
}

/** The zone a live credential is for, when `secret` is its secret and the zone still exists. */
export async function verifyZoneCredential(store: Store, id: string, secret: string): Promise<{ zone: string } | undefined> {
  if (typeof id !== "string" || typeof secret !== "string" || !id || !secret) return undefined;
  const [row] = await store.sql`
    SELECT c.zone, c.secret_hash FROM zone_credentials c JOIN zones z ON z.name = c.zone
    WHERE c.id = ${id} AND c.revoked_at IS NULL`;
  if (!row || !verifySecret(secret, row.secret_hash)) return undefined;
  return { zone: row.zone };
}

export async function listZoneCredentials(store: Store, zone?: string): Promise<ZoneCredential[]> {
  const rows = zone
    ? await store.sql`SELECT id, zone, created_at, revoked_at FROM zone_credentials WHERE zone = ${zone} ORDER BY created_at, id`
    : await store.sql`SELECT id, zone, created_at, revoked_at FROM zone_credentials ORDER BY created_at, id`;
  return rows.map(toCredential);
}

export async function revokeZoneCredential(store: Store, id: string): Promise<ZoneCredential> {
  const [row] = await store.sql`SELECT id, zone, created_at, revoked_at FROM zone_credentials WHERE id = ${id} AND revoked_at IS NULL`;
  if (!row) throw notFound(`there is no live zone credential "${id}"`);
  const revokedAt = Date.now();
  await store.sql`UPDATE zone_credentials SET revoked_at = ${revokedAt} WHERE id = ${id}`;
  return { ...toCredential(row), revokedAt };
}

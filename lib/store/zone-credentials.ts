// Zone credentials: what `tunnel login` saves as cert.pem, letting a connector claim
// hostnames in one zone. The store keeps only the secret's hash.
import { hashSecret, randomId, randomSecret, verifySecret, ZONE_CREDENTIAL_ID_PREFIX } from "../auth/secret.ts";
import type { SQL } from "bun";
import type { BigIntColumn, Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";
import { notFound } from "./errors.ts";
import { getZone } from "./zones.ts";
import { bumpAccessRevision } from "./revision.ts";
import { unrouteTunnelsOf, type MadeWith } from "./tunnels.ts";

/** `obtainedBy`: the e-mail of who signed in for it (`tunnel login`), or `admin:<token>`;
 * `expiresAt` is absent for credentials issued before credentials expired (revoke and reissue those);
 * `grantedBy`: the zone admin rules that let its holder obtain it (absent: an admin's, or one
 * obtained before that was recorded). */
export type ZoneCredential = { id: string; zone: string; obtainedBy: string; createdAt: number; expiresAt?: number; lastUsedAt?: number; revokedAt?: number; grantedBy?: string[] };

/** Who a zone credential acts for, and owns the tunnels it makes: whoever obtained it (an
 * admin, a zone admin), else the credential itself. */
export const credentialOwner = (c: ZoneCredential) => c.obtainedBy || c.id;

/** What a tunnel whose secret this credential makes records of it: the secret ends when the credential does. */
export const madeWith = (c: Pick<ZoneCredential, "id" | "expiresAt">): MadeWith => ({ credentialId: c.id, ...(c.expiresAt !== undefined ? { expiresAt: c.expiresAt } : {}) });

type ZoneCredentialRow = { id: string; zone: string; obtained_by: string; created_at: BigIntColumn; expires_at: BigIntColumn | null; last_used_at: BigIntColumn | null; revoked_at: BigIntColumn | null; granted_by: string | null };

/** How long a zone credential lasts unless the edge is told otherwise. */
export const DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS = 365 * 86_400_000;

const grants = (text: string): string[] => {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
};

const toCredential = (r: ZoneCredentialRow): ZoneCredential => {
  const c: ZoneCredential = { id: r.id, zone: r.zone, obtainedBy: r.obtained_by, createdAt: ms(r.created_at) };
  for (const [key, v] of [["expiresAt", r.expires_at], ["lastUsedAt", r.last_used_at], ["revokedAt", r.revoked_at]] as const) {
    const at = msOrUndefined(v);
    if (at !== undefined) c[key] = at;
  }
  if (r.granted_by !== null) c.grantedBy = grants(r.granted_by);
  return c;
};

/** A new credential for an existing zone; the secret in the result is the only copy there will be. */
export async function createZoneCredential(
  store: Store,
  zone: string,
  opts: { obtainedBy: string; lifetimeMs?: number; grantedBy?: string[] },
): Promise<{ id: string; zone: string; secret: string; expiresAt: number }> {
  const z = await getZone(store, zone);
  if (!z) throw notFound(`there is no zone "${zone}"; add it first with "wicket edge zone add ${zone}"`);
  const id = randomId(ZONE_CREDENTIAL_ID_PREFIX);
  const secret = randomSecret();
  const now = Date.now();
  const expiresAt = now + (opts.lifetimeMs ?? DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS);
  const granted = opts.grantedBy ? JSON.stringify(opts.grantedBy) : null;
  await store.sql`
    INSERT INTO zone_credentials (id, zone, secret_hash, created_at, obtained_by, expires_at, granted_by)
    VALUES (${id}, ${z.name}, ${hashSecret(secret)}, ${now}, ${opts.obtainedBy}, ${expiresAt}, ${granted})`;
  return { id, zone: z.name, secret, expiresAt };
}

/** Why a credential no longer lets a connector in, or undefined while it does. */
export function credentialRefusal(c: Pick<ZoneCredential, "id" | "revokedAt" | "expiresAt">, now = Date.now()): string | undefined {
  if (c.revokedAt !== undefined) return `the zone credential ${c.id} was revoked`;
  if (c.expiresAt !== undefined && c.expiresAt <= now) return `the zone credential ${c.id} expired on ${new Date(c.expiresAt).toISOString()}`;
  return undefined;
}

/** A credential by id while its zone exists, whatever its state. */
export async function getZoneCredential(store: Store, id: string): Promise<ZoneCredential | undefined> {
  const [row]: ZoneCredentialRow[] = await store.sql`
    SELECT c.id, c.zone, c.obtained_by, c.created_at, c.expires_at, c.last_used_at, c.revoked_at, c.granted_by
    FROM zone_credentials c JOIN zones z ON z.name = c.zone WHERE c.id = ${id}`;
  return row ? toCredential(row) : undefined;
}

/**
 * The credential `id` when `secret` is its secret, it is live (not revoked, not expired) and
 * its zone exists; else the reason it is refused. Marks it used.
 */
export async function verifyZoneCredential(store: Store, id: string, secret: string): Promise<{ credential: ZoneCredential } | { refused: string }> {
  const unknown = { refused: "the zone credential was refused; get a new one with `wicket tunnel login` or `wicket edge tunnel-cert`" };
  if (typeof id !== "string" || typeof secret !== "string" || !id || !secret) return unknown;
  const [row]: (ZoneCredentialRow & { secret_hash: string })[] = await store.sql`
    SELECT c.id, c.zone, c.obtained_by, c.created_at, c.expires_at, c.last_used_at, c.revoked_at, c.granted_by, c.secret_hash
    FROM zone_credentials c JOIN zones z ON z.name = c.zone WHERE c.id = ${id}`;
  if (!row || !verifySecret(secret, row.secret_hash)) return unknown;
  const credential = toCredential(row);
  const refusal = credentialRefusal(credential);
  if (refusal) return { refused: `${refusal}; get a new one with \`wicket tunnel login\`` };
  // "last used" to the minute: a connector's several connections make one write, not one each
  const now = Date.now();
  if (credential.lastUsedAt !== undefined && now - credential.lastUsedAt < 60_000) return { credential };
  await store.sql`UPDATE zone_credentials SET last_used_at = ${now} WHERE id = ${id}`;
  return { credential: { ...credential, lastUsedAt: now } };
}

export async function listZoneCredentials(store: Store): Promise<ZoneCredential[]> {
  const rows: ZoneCredentialRow[] = await store.sql`SELECT id, zone, obtained_by, created_at, expires_at, last_used_at, revoked_at, granted_by FROM zone_credentials ORDER BY created_at`;
  return rows.map(toCredential);
}

/**
 * Tunnels made before the store recorded which credential made them, by the owner of one of
 * these revoked credentials in its zone, are taken to be its own: any of the owner's
 * credentials may have made them, a copied one too, and the edge fails closed. (They kept
 * working across the upgrade; they stop with the first of their owner's credentials revoked.)
 */
async function claimUnattributed(tx: SQL, creds: ZoneCredential[]) {
  for (const c of creds) await tx`UPDATE tunnels SET credential_id = ${c.id} WHERE credential_id IS NULL AND zone = ${c.zone} AND created_by = ${credentialOwner(c)}`;
}

/** A credential revoked, and the tunnels it made, now disabled, with the hostnames they lost. */
export type RevokedZoneCredential = ZoneCredential & { tunnels: { id: string; name: string; routes: string[] }[] };

/** Revokes the credential and disables the tunnels it made (their routes go): the edge cannot
 * tell its owner from someone who copied it, so nothing it made outlives it. */
export async function revokeZoneCredential(store: Store, id: string): Promise<RevokedZoneCredential> {
  const [row]: ZoneCredentialRow[] = await store.sql`SELECT id, zone, obtained_by, created_at, expires_at, last_used_at, revoked_at, granted_by FROM zone_credentials WHERE id = ${id} AND revoked_at IS NULL`;
  if (!row) throw notFound(`there is no live zone credential "${id}"; see "wicket edge tunnel-cert list"`);
  const revokedAt = Date.now();
  const tunnels = await store.sql.begin(async (tx) => {
    await tx`UPDATE zone_credentials SET revoked_at = ${revokedAt} WHERE id = ${id}`;
    await claimUnattributed(tx, [toCredential(row)]);
    const made = await unrouteTunnelsOf(tx, [id]);
    await bumpAccessRevision(tx);
    return made;
  });
  return { ...toCredential(row), revokedAt, tunnels };
}

/**
 * Revokes the live credentials `email` obtained (in `zone`, or in any) and deletes the tunnels
 * they made with them (`tunnel create`, or the seed form's), whose own secrets would otherwise
 * outlive them. Returns what went, for the audit.
 */
export async function revokeZoneCredentialsOf(store: Store, email: string, zone?: string): Promise<{ credentials: string[]; tunnels: string[] }> {
  const who = email.toLowerCase();
  const creds: { id: string }[] = zone
    ? await store.sql`SELECT id FROM zone_credentials WHERE lower(obtained_by) = ${who} AND zone = ${zone} AND revoked_at IS NULL`
    : await store.sql`SELECT id FROM zone_credentials WHERE lower(obtained_by) = ${who} AND revoked_at IS NULL`;
  const tunnels: { id: string; name: string }[] = zone
    ? await store.sql`SELECT id, name FROM tunnels WHERE lower(created_by) = ${who} AND zone = ${zone}`
    : await store.sql`SELECT id, name FROM tunnels WHERE lower(created_by) = ${who}`;
  if (creds.length + tunnels.length === 0) return { credentials: [], tunnels: [] };
  const now = Date.now();
  await store.sql.begin(async (tx) => {
    for (const r of creds) await tx`UPDATE zone_credentials SET revoked_at = ${now} WHERE id = ${r.id}`;
    for (const t of tunnels) await tx`DELETE FROM tunnels WHERE id = ${t.id}`;
    // and the tunnels those credentials made for anyone else (a rotation of another's secret)
    await unrouteTunnelsOf(tx, creds.map((r) => r.id));
    await bumpAccessRevision(tx);
  });
  return { credentials: creds.map((r) => r.id), tunnels: tunnels.map((t) => `${t.name} (${t.id})`) };
}

/**
 * After the zone admin rule `principal` of `zone` went: revokes the live credentials of the zone
 * obtained through it that no remaining rule granted too, and disables what they made. A
 * credential obtained before grants were recorded (or before its holder was) is revoked unless
 * an \`email:\` rule still names its holder: it may have come through this rule, and the edge
 * fails closed (its holder signs in again if still entitled).
 * An admin's credentials (\`admin:<token>\`) were granted by no rule and stay.
 */
export async function revokeZoneCredentialsGrantedBy(store: Store, zone: string, principal: string): Promise<{ credentials: string[]; tunnels: string[]; disabled: string[] }> {
  const rows: ZoneCredentialRow[] = await store.sql`SELECT id, zone, obtained_by, created_at, expires_at, last_used_at, revoked_at, granted_by FROM zone_credentials WHERE zone = ${zone} AND revoked_at IS NULL`;
  const remaining = new Set(((await store.sql`SELECT principal FROM zone_admins WHERE zone = ${zone}`) as { principal: string }[]).map((r) => r.principal));
  const lapsed = rows.map(toCredential).filter((c) => {
    if (c.grantedBy) return c.grantedBy.includes(principal) && !c.grantedBy.some((g) => remaining.has(g));
    return !c.obtainedBy.startsWith("admin:") && !remaining.has(`email:${c.obtainedBy.toLowerCase()}`);
  });
  if (lapsed.length === 0) return { credentials: [], tunnels: [], disabled: [] };
  const now = Date.now();
  const tunnels = await store.sql.begin(async (tx) => {
    for (const c of lapsed) await tx`UPDATE zone_credentials SET revoked_at = ${now} WHERE id = ${c.id} AND revoked_at IS NULL`;
    await claimUnattributed(tx, lapsed);
    const made = await unrouteTunnelsOf(tx, lapsed.map((c) => c.id));
    await bumpAccessRevision(tx);
    return made;
  });
  return { credentials: lapsed.map((c) => c.id), tunnels: [], disabled: tunnels.map((t) => `${t.name} (${t.id})`) };
}

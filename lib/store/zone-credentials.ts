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

/** What a revocation took, for the audit: the credentials, the tunnels deleted and those
 * disabled (`name (id)`), and the hostnames the disabled ones lost. */
export type Revoked = { credentials: string[]; tunnels: string[]; disabled: string[]; unrouted: string[] };

const named = (t: { id: string; name: string }) => `${t.name} (${t.id})`;

/**
 * The one way zone credentials are revoked: each of `creds` still live is revoked, and the
 * tunnels it made are disabled (their routes go): the edge cannot tell an owner from someone
 * who copied a credential, so nothing it made outlives it. `deleteMadeBy`: a person whose own
 * tunnels are deleted outright in the same transaction (`user revoke`: they are out everywhere).
 */
export async function revokeZoneCredentials(store: Store, creds: ZoneCredential[], o: { deleteMadeBy?: string } = {}): Promise<Revoked & { revokedAt: number; disabledTunnels: RevokedZoneCredential["tunnels"] }> {
  const revokedAt = Date.now();
  const who = o.deleteMadeBy?.toLowerCase();
  const doomed: { id: string; name: string }[] = who === undefined ? [] : await store.sql`SELECT id, name FROM tunnels WHERE lower(created_by) = ${who} ORDER BY name`;
  if (creds.length + doomed.length === 0) return { credentials: [], tunnels: [], disabled: [], unrouted: [], revokedAt, disabledTunnels: [] };
  const { revoked, unrouted } = await store.sql.begin(async (tx) => {
    const revoked: string[] = [];
    for (const c of creds) if ((await tx`UPDATE zone_credentials SET revoked_at = ${revokedAt} WHERE id = ${c.id} AND revoked_at IS NULL RETURNING id`).length) revoked.push(c.id);
    for (const t of doomed) {
      await tx`DELETE FROM tunnel_routes WHERE tunnel_id = ${t.id}`;
      await tx`DELETE FROM tunnels WHERE id = ${t.id}`;
    }
    const live = creds.filter((c) => revoked.includes(c.id));
    await claimUnattributed(tx, live);
    const unrouted = await unrouteTunnelsOf(tx, revoked);
    await bumpAccessRevision(tx);
    return { revoked, unrouted };
  });
  return { credentials: revoked, tunnels: doomed.map(named), disabled: unrouted.map(named), unrouted: unrouted.flatMap((t) => t.routes), revokedAt, disabledTunnels: unrouted };
}

/** Revokes one credential and disables the tunnels it made. */
export async function revokeZoneCredential(store: Store, id: string): Promise<RevokedZoneCredential> {
  const [row]: ZoneCredentialRow[] = await store.sql`SELECT id, zone, obtained_by, created_at, expires_at, last_used_at, revoked_at, granted_by FROM zone_credentials WHERE id = ${id} AND revoked_at IS NULL`;
  if (!row) throw notFound(`there is no live zone credential "${id}"; see "wicket edge tunnel-cert list"`);
  const r = await revokeZoneCredentials(store, [toCredential(row)]);
  if (!r.credentials.length) throw notFound(`there is no live zone credential "${id}"; see "wicket edge tunnel-cert list"`);
  return { ...toCredential(row), revokedAt: r.revokedAt, tunnels: r.disabledTunnels };
}

/** The live credentials `email` obtained, in any zone. */
export async function liveZoneCredentialsOf(store: Store, email: string): Promise<ZoneCredential[]> {
  const rows: ZoneCredentialRow[] = await store.sql`SELECT id, zone, obtained_by, created_at, expires_at, last_used_at, revoked_at, granted_by FROM zone_credentials WHERE lower(obtained_by) = ${email.toLowerCase()} AND revoked_at IS NULL ORDER BY created_at`;
  return rows.map(toCredential);
}

/**
 * `user revoke`: revokes the live credentials `email` obtained, in every zone, disabling what
 * they made for anyone, and deletes the tunnels that person made, whose own secrets would
 * otherwise outlive them. Returns what went, for the audit.
 */
export async function revokeZoneCredentialsOf(store: Store, email: string): Promise<Revoked> {
  const { credentials, tunnels, disabled, unrouted } = await revokeZoneCredentials(store, await liveZoneCredentialsOf(store, email), { deleteMadeBy: email });
  return { credentials, tunnels, disabled, unrouted };
}

/**
 * The live credentials of `zone` that came through the zone admin rule `principal` (an
 * `email:` or a `group:` rule alike), which went, and that no remaining rule grants. One
 * whose grants were recorded lapses when none of them remains. One obtained before grants
 * were recorded lapses unless an `email:` rule still names its holder, when it may have come
 * through `principal` (any holder's for a group, only that mailbox's for an `email:` rule):
 * the edge fails closed, and its holder signs in again if still entitled. An admin's
 * credentials (`admin:<token>`) were granted by no rule and stay.
 */
export async function zoneCredentialsLapsedWith(store: Store, zone: string, principal: string): Promise<ZoneCredential[]> {
  const rows: ZoneCredentialRow[] = await store.sql`SELECT id, zone, obtained_by, created_at, expires_at, last_used_at, revoked_at, granted_by FROM zone_credentials WHERE zone = ${zone} AND revoked_at IS NULL ORDER BY created_at`;
  const remaining = new Set(((await store.sql`SELECT principal FROM zone_admins WHERE zone = ${zone}`) as { principal: string }[]).map((r) => r.principal));
  const holder = principal.startsWith("email:") ? principal.slice(6).toLowerCase() : undefined;
  return rows.map(toCredential).filter((c) => {
    if (c.grantedBy) return c.grantedBy.includes(principal) && !c.grantedBy.some((g) => remaining.has(g));
    if (c.obtainedBy.startsWith("admin:") || (holder !== undefined && c.obtainedBy.toLowerCase() !== holder)) return false;
    return !remaining.has(`email:${c.obtainedBy.toLowerCase()}`);
  });
}

/** After the zone admin rule `principal` of `zone` went: revokes what no remaining rule grants (`zoneCredentialsLapsedWith`) and disables what it made. */
export async function revokeZoneCredentialsGrantedBy(store: Store, zone: string, principal: string): Promise<Revoked> {
  const { credentials, tunnels, disabled, unrouted } = await revokeZoneCredentials(store, await zoneCredentialsLapsedWith(store, zone, principal));
  return { credentials, tunnels, disabled, unrouted };
}

// Admin API tokens, `<id>.<secret>`, for automation: named, edge-wide or scoped to one zone,
// read-only or not, expiring or not; the store keeps the secret's hash only. On its first
// start the edge makes one (`bootstrap`) and leaves it in `<dataDir>/admin-token` (0600) for
// the admin commands run on the same machine; `wicket edge admin-token revoke bootstrap`
// retires it. A revoked token keeps its row, so that the bootstrap token is not made again.
import { join } from "node:path";
import { ADMIN_TOKEN_FILE, writePrivate } from "../paths.ts";
import { ADMIN_TOKEN_ID_PREFIX, hashSecret, joinIdSecret, randomId, randomSecret, splitIdSecret, verifySecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { isUniqueViolation, ms, msOrUndefined } from "./open.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { getZone } from "./zones.ts";

/** `zone`: the token may act only on that zone's resources; `readOnly`: it may only read. */
export type AdminToken = { id: string; name: string; createdAt: number; zone?: string; readOnly: boolean; expiresAt?: number; revokedAt?: number };
export type AdminTokenScope = { zone?: string; readOnly?: boolean; expiresAt?: number };

type AdminTokenRow = { id: string; name: string; secret_hash: string; created_at: BigIntColumn; zone: string | null; read_only: BigIntColumn; expires_at: BigIntColumn | null; revoked_at: BigIntColumn | null };

export const BOOTSTRAP_ADMIN_TOKEN_NAME = "bootstrap";

const toToken = (r: AdminTokenRow): AdminToken => {
  const t: AdminToken = { id: r.id, name: r.name, createdAt: ms(r.created_at), readOnly: Number(r.read_only) !== 0 };
  if (r.zone) t.zone = r.zone;
  const expiresAt = msOrUndefined(r.expires_at);
  if (expiresAt !== undefined) t.expiresAt = expiresAt;
  const revokedAt = msOrUndefined(r.revoked_at);
  if (revokedAt !== undefined) t.revokedAt = revokedAt;
  return t;
};

/** A new admin token; `token` (`<id>.<secret>`) is the only copy there will be. */
export async function createAdminToken(store: Store, name: string, scope: AdminTokenScope = {}): Promise<AdminToken & { token: string }> {
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || name.startsWith(ADMIN_TOKEN_ID_PREFIX)) {
    throw invalid(`"${name}" is not a valid admin token name; use letters, digits, ".", "_" or "-", not starting with ${ADMIN_TOKEN_ID_PREFIX}`);
  }
  let zone: string | undefined;
  if (scope.zone !== undefined) {
    zone = (await getZone(store, scope.zone))?.name;
    if (!zone) throw notFound(`there is no zone "${scope.zone}"; see "wicket edge zone list"`);
  }
  const createdAt = Date.now();
  if (scope.expiresAt !== undefined && (!Number.isSafeInteger(scope.expiresAt) || scope.expiresAt <= createdAt)) throw invalid("an admin token must expire in the future; pass --expires 30d, say");
  const id = randomId(ADMIN_TOKEN_ID_PREFIX);
  const secret = randomSecret();
  const readOnly = scope.readOnly ? 1 : 0;
  try {
    await store.sql`INSERT INTO admin_tokens (id, name, secret_hash, created_at, zone, read_only, expires_at)
      VALUES (${id}, ${name}, ${hashSecret(secret)}, ${createdAt}, ${zone ?? null}, ${readOnly}, ${scope.expiresAt ?? null})`;
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`an admin token named "${name}" already exists; revoke it first or choose another name`);
    throw e;
  }
  const t: AdminToken = { id, name, createdAt, readOnly: readOnly === 1 };
  if (zone) t.zone = zone;
  if (scope.expiresAt !== undefined) t.expiresAt = scope.expiresAt;
  return { ...t, token: joinIdSecret(id, secret) };
}

/**
 * On the first start (no admin token in the store, not even a revoked one), creates one and
 * writes it to `<dataDir>/admin-token` with mode 0600. Later starts change nothing, so
 * deleting the file after copying the token elsewhere is safe.
 */
export async function ensureBootstrapAdminToken(store: Store, dataDir: string): Promise<{ created: boolean; path: string }> {
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  const [row]: { n: BigIntColumn }[] = await store.sql`SELECT COUNT(*) AS n FROM admin_tokens`;
  if (Number(row.n) > 0) return { created: false, path };
  let token: string;
  try {
    ({ token } = await createAdminToken(store, BOOTSTRAP_ADMIN_TOKEN_NAME));
  } catch (e) {
    // Another node sharing the store made it first; that node wrote its own file.
    if ((e as { kind?: string }).kind === "conflict") return { created: false, path };
    throw e;
  }
  writePrivate(path, token + "\n");
  return { created: true, path };
}

/** The live admin token this string is, when its secret checks out: not revoked, not expired. Read from the store on every call, so a revocation holds on every node at once. */
export async function verifyAdminToken(store: Store, token: string, now = Date.now()): Promise<AdminToken | undefined> {
  const parts = typeof token === "string" ? splitIdSecret(token.trim()) : undefined;
  if (!parts) return undefined;
  const [row]: AdminTokenRow[] = await store.sql`SELECT * FROM admin_tokens WHERE id = ${parts.id}`;
  if (!row || !verifySecret(parts.secret, row.secret_hash)) return undefined;
  const t = toToken(row);
  if (t.revokedAt !== undefined || (t.expiresAt !== undefined && t.expiresAt <= now)) return undefined;
  return t;
}

/** Live admin tokens (expired ones included, marked by expiresAt), oldest first; a zone's only with `zone`. */
export async function listAdminTokens(store: Store, zone?: string): Promise<AdminToken[]> {
  const rows: AdminTokenRow[] = zone
    ? await store.sql`SELECT * FROM admin_tokens WHERE revoked_at IS NULL AND zone = ${zone} ORDER BY created_at, id`
    : await store.sql`SELECT * FROM admin_tokens WHERE revoked_at IS NULL ORDER BY created_at, id`;
  return rows.map(toToken);
}

/** The live admin token with this id or name. */
export async function getAdminToken(store: Store, idOrName: string): Promise<AdminToken | undefined> {
  const [row]: AdminTokenRow[] = await store.sql`SELECT * FROM admin_tokens WHERE revoked_at IS NULL AND (id = ${idOrName} OR name = ${idOrName})`;
  return row ? toToken(row) : undefined;
}

/** Revokes an admin token by id; it is refused from the next request on, on every node. */
export async function revokeAdminToken(store: Store, id: string): Promise<AdminToken> {
  const revokedAt = Date.now();
  const rows: AdminTokenRow[] = await store.sql`UPDATE admin_tokens SET revoked_at = ${revokedAt} WHERE id = ${id} AND revoked_at IS NULL RETURNING *`;
  if (!rows[0]) throw notFound(`there is no live admin token "${id}"; see "wicket edge admin-token list"`);
  return toToken(rows[0]);
}

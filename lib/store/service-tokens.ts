// Service tokens: a random id and secret for CI jobs. The store keeps only the secret's
// hash; the secret is shown once, when the token is created.
import { hashSecret, randomId, randomSecret, SERVICE_TOKEN_ID_PREFIX, verifySecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { isUniqueViolation, ms, msOrUndefined } from "./open.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { bumpAccessRevision } from "./revision.ts";

export type ServiceToken = { id: string; name: string; createdAt: number; revokedAt?: number };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

type ServiceTokenRow = { id: string; name: string; created_at: BigIntColumn; revoked_at: BigIntColumn | null };
type SecretRow = ServiceTokenRow & { secret_hash: string };

const toToken = (r: ServiceTokenRow): ServiceToken => {
  const t: ServiceToken = { id: r.id, name: r.name, createdAt: ms(r.created_at) };
  const revokedAt = msOrUndefined(r.revoked_at);
  if (revokedAt !== undefined) t.revokedAt = revokedAt;
  return t;
};

export function checkTokenName(name: string): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw invalid(`"${name}" is not a valid token name; use up to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  // A name that looks like an id would make "rm <id-or-name>" and token:<id-or-name> ambiguous.
  if (name.startsWith(SERVICE_TOKEN_ID_PREFIX)) throw invalid(`a token name must not start with "${SERVICE_TOKEN_ID_PREFIX}", which marks token ids; choose another name`);
  return name;
}

/** Creates a service token; the secret in the result is the only copy there will be. */
export async function createServiceToken(store: Store, name: string): Promise<ServiceToken & { secret: string }> {
  checkTokenName(name);
  const id = randomId(SERVICE_TOKEN_ID_PREFIX);
  const secret = randomSecret();
  const createdAt = Date.now();
  try {
    await store.sql`INSERT INTO service_tokens (id, name, secret_hash, created_at) VALUES (${id}, ${name}, ${hashSecret(secret)}, ${createdAt})`;
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`a service token named "${name}" already exists; remove it first or choose another name`);
    throw e;
  }
  return { id, name, createdAt, secret };
}

/** Live tokens, oldest first; revoked ones too with `includeRevoked`. */
export async function listServiceTokens(store: Store, opts: { includeRevoked?: boolean } = {}): Promise<ServiceToken[]> {
  const rows: ServiceTokenRow[] = opts.includeRevoked
    ? await store.sql`SELECT id, name, created_at, revoked_at FROM service_tokens ORDER BY created_at, id`
    : await store.sql`SELECT id, name, created_at, revoked_at FROM service_tokens WHERE revoked_at IS NULL ORDER BY created_at, id`;
  return rows.map(toToken);
}

/** The live token with this id or name. */
export async function getServiceToken(store: Store, idOrName: string): Promise<ServiceToken | undefined> {
  const [row]: ServiceTokenRow[] = await store.sql`SELECT id, name, created_at, revoked_at FROM service_tokens WHERE revoked_at IS NULL AND (id = ${idOrName} OR name = ${idOrName})`;
  return row ? toToken(row) : undefined;
}

/** Revokes a token by id or name. Its row stays (revoked) so that audit records still name it. */
export async function removeServiceToken(store: Store, idOrName: string): Promise<ServiceToken> {
  const token = await getServiceToken(store, idOrName);
  if (!token) throw notFound(`there is no service token "${idOrName}"; see "wicket edge token list"`);
  const revokedAt = Date.now();
  await store.sql.begin(async (tx) => {
    await tx`UPDATE service_tokens SET revoked_at = ${revokedAt} WHERE id = ${token.id} AND revoked_at IS NULL`;
    await bumpAccessRevision(tx);
  });
  return { ...token, revokedAt };
}

/** The live token when `secret` is its secret, else undefined. */
export async function verifyServiceToken(store: Store, id: string, secret: string): Promise<ServiceToken | undefined> {
  if (typeof id !== "string" || typeof secret !== "string" || !id || !secret) return undefined;
  const [row]: SecretRow[] = await store.sql`SELECT id, name, created_at, revoked_at, secret_hash FROM service_tokens WHERE id = ${id} AND revoked_at IS NULL`;
  if (!row || !verifySecret(secret, row.secret_hash)) return undefined;
  return toToken(row);
}

/**
 * Checks an id and secret: the live token, or the revoked token when the secret is right
 * (so that only the token's holder learns it was revoked), or undefined.
 */
export async function authenticateServiceToken(store: Store, id: string, secret: string): Promise<{ token: ServiceToken } | { revoked: ServiceToken } | undefined> {
  if (typeof id !== "string" || typeof secret !== "string" || !id || !secret) return undefined;
  const [row]: SecretRow[] = await store.sql`SELECT id, name, created_at, revoked_at, secret_hash FROM service_tokens WHERE id = ${id}`;
  if (!row || !verifySecret(secret, row.secret_hash)) return undefined;
  const token = toToken(row);
  return token.revokedAt === undefined ? { token } : { revoked: token };
}

/** The ids, among `ids`, of tokens that are revoked (or gone). */
export async function revokedServiceTokens(store: Store, ids: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const id of new Set(ids)) {
    const [row]: Pick<ServiceTokenRow, "revoked_at">[] = await store.sql`SELECT revoked_at FROM service_tokens WHERE id = ${id}`;
    if (!row || row.revoked_at !== null) out.add(id);
  }
  return out;
}

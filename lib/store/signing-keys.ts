// The keys the edge signs app tokens with. Kept in the store so that every node of a cluster
// signs with, and accepts, the same keys; public halves are published as a JWKS.
import type { JWK } from "jose";
import type { BigIntColumn, Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";
import { bumpAccessRevision } from "./revision.ts";

export type StoredSigningKey = { kid: string; alg: string; privateJwk: JWK; publicJwk: JWK; createdAt: number; retiredAt?: number };

/** The JWKs are JSON text. */
type SigningKeyRow = { kid: string; alg: string; private_jwk: string; public_jwk: string; created_at: BigIntColumn; retired_at: BigIntColumn | null };

const toKey = (r: SigningKeyRow): StoredSigningKey => {
  const k: StoredSigningKey = { kid: r.kid, alg: r.alg, privateJwk: JSON.parse(r.private_jwk), publicJwk: JSON.parse(r.public_jwk), createdAt: ms(r.created_at) };
  const retiredAt = msOrUndefined(r.retired_at);
  if (retiredAt !== undefined) k.retiredAt = retiredAt;
  return k;
};

/** Every key, retired ones too, newest first: for `wicket edge signing-key list`. */
export async function allSigningKeys(store: Store): Promise<StoredSigningKey[]> {
  const rows: SigningKeyRow[] = await store.sql`SELECT * FROM signing_keys ORDER BY created_at DESC, kid`;
  return rows.map(toKey);
}

export async function signingKeyRetired(store: Store, kid: string): Promise<boolean> {
  const [row]: Pick<SigningKeyRow, "retired_at">[] = await store.sql`SELECT retired_at FROM signing_keys WHERE kid = ${kid}`;
  return row !== undefined && row.retired_at !== null;
}

/** The ids of the keys whose tokens are still accepted. */
export async function liveSigningKeyIds(store: Store): Promise<Set<string>> {
  const rows: { kid: string }[] = await store.sql`SELECT kid FROM signing_keys WHERE retired_at IS NULL`;
  return new Set(rows.map((r) => r.kid));
}

/**
 * Retires every key but `keep`: tokens they signed are refused from then on, and the access
 * revision moves so that every node re-checks its live sessions. Returns the retired ids.
 */
export async function retireSigningKeysExcept(store: Store, keep: string): Promise<string[]> {
  return store.sql.begin(async (tx) => {
    const rows: { kid: string }[] = await tx`UPDATE signing_keys SET retired_at = ${Date.now()} WHERE retired_at IS NULL AND kid <> ${keep} RETURNING kid`;
    if (rows.length) await bumpAccessRevision(tx);
    return rows.map((r) => r.kid).sort();
  });
}

/** Keys in use, newest first. */
export async function listSigningKeys(store: Store): Promise<StoredSigningKey[]> {
  const rows: SigningKeyRow[] = await store.sql`SELECT * FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid`;
  return rows.map(toKey);
}

/** Adds a key, which signs from now on: the newest live key is the current one, so its time is
 * after every other key's, even for two made within one millisecond. The access revision
 * moves, so that every node loads it. */
export async function insertSigningKey(store: Store, k: Omit<StoredSigningKey, "createdAt" | "retiredAt">): Promise<void> {
  await store.sql.begin(async (tx) => {
    const [row]: { newest: BigIntColumn | null }[] = await tx`SELECT MAX(created_at) AS newest FROM signing_keys`;
    const createdAt = Math.max(Date.now(), Number(row?.newest ?? 0) + 1);
    await tx`INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at) VALUES (${k.kid}, ${k.alg}, ${JSON.stringify(k.privateJwk)}, ${JSON.stringify(k.publicJwk)}, ${createdAt})`;
    await bumpAccessRevision(tx);
  });
}

// The keys the edge signs app tokens with. Kept in the store so that every node of a cluster
// signs with, and accepts, the same keys; public halves are published as a JWKS.
import type { JWK } from "jose";
import type { Store } from "./open.ts";
import { ms } from "./open.ts";

export type StoredSigningKey = { kid: string; alg: string; privateJwk: JWK; publicJwk: JWK; createdAt: number };

const toKey = (r: any): StoredSigningKey => ({ kid: r.kid, alg: r.alg, privateJwk: JSON.parse(r.private_jwk), publicJwk: JSON.parse(r.public_jwk), createdAt: ms(r.created_at) });

/** Keys in use, newest first. */
export async function listSigningKeys(store: Store): Promise<StoredSigningKey[]> {
  return (await store.sql`SELECT * FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid`).map(toKey);
}

export async function insertSigningKey(store: Store, k: Omit<StoredSigningKey, "createdAt">): Promise<void> {
  await store.sql`INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at) VALUES (${k.kid}, ${k.alg}, ${JSON.stringify(k.privateJwk)}, ${JSON.stringify(k.publicJwk)}, ${Date.now()})`;
}

// Workload ID tokens the edge has exchanged, so that each is accepted once on every node of a
// cluster: a row per token until it expires, and a cap on the rows, past which exchanges are
// refused (never forgotten early, which would let a token in twice).
import type { Store } from "./open.ts";

/** More live rows than this and no token is taken until some expire. */
export const WORKLOAD_TOKENS_MAX = 100_000;

export type Consumed = "ok" | "replayed" | "full";

/** Records the token `hash` (valid until `expiresAt`, epoch ms) as used; "replayed" if it was already. */
export async function consumeWorkloadToken(store: Store, hash: string, issuer: string, expiresAt: number, max = WORKLOAD_TOKENS_MAX): Promise<Consumed> {
  const now = Date.now();
  await store.sql`DELETE FROM workload_tokens_seen WHERE expires_at <= ${now}`;
  const [count]: { n: number | string }[] = await store.sql`SELECT COUNT(*) AS n FROM workload_tokens_seen`;
  if (Number(count?.n ?? 0) >= max) return "full";
  const rows: { token_hash: string }[] = await store.sql`INSERT INTO workload_tokens_seen (token_hash, issuer, expires_at) VALUES (${hash}, ${issuer}, ${expiresAt})
    ON CONFLICT (token_hash) DO NOTHING RETURNING token_hash`;
  return rows.length === 1 ? "ok" : "replayed";
}

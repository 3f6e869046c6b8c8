// User revocation, keyed by e-mail: credentials a user was issued before the revocation
// (app tokens, the org session) are refused from then on; signing in again afterwards
// gives new ones, which the policies then judge as usual.
import type { BigIntColumn, Store } from "./open.ts";
import { ms } from "./open.ts";
import { invalid } from "./errors.ts";
import { bumpAccessRevision } from "./revision.ts";

export type UserRevocation = { email: string; revokedBefore: number; revokedBy?: string };

type UserRevocationRow = { email: string; revoked_before: BigIntColumn; revoked_by: string | null };

const EMAIL = /^[^@\s]+@[^@\s]+$/;

export function normalizeEmail(email: string): string {
  const e = String(email ?? "").trim().toLowerCase();
  if (!EMAIL.test(e) || e.length > 320) throw invalid(`"${email}" is not an e-mail address; pass one such as jdoe@example.com`);
  return e;
}

/** Refuses every credential `email` holds that was issued before now. */
export async function revokeUser(store: Store, email: string, by?: string, at = Date.now()): Promise<UserRevocation> {
  const e = normalizeEmail(email);
  await store.sql.begin(async (tx) => {
    await tx`INSERT INTO user_revocations (email, revoked_before, revoked_by) VALUES (${e}, ${at}, ${by ?? null})
             ON CONFLICT (email) DO UPDATE SET revoked_before = excluded.revoked_before, revoked_by = excluded.revoked_by`;
    await bumpAccessRevision(tx);
  });
  return by === undefined ? { email: e, revokedBefore: at } : { email: e, revokedBefore: at, revokedBy: by };
}

/**
 * Epoch ms before which `email`'s credentials are refused, or undefined if the user was never
 * revoked. A credential issued at `issuedAt` (a JWT's `iat` × 1000) is good only when
 * `issuedAt >= userRevokedBefore(email)`.
 */
export async function userRevokedBefore(store: Store, email: string): Promise<number | undefined> {
  const e = String(email ?? "").trim().toLowerCase();
  const [row]: Pick<UserRevocationRow, "revoked_before">[] = await store.sql`SELECT revoked_before FROM user_revocations WHERE email = ${e}`;
  return row ? ms(row.revoked_before) : undefined;
}

export async function listUserRevocations(store: Store): Promise<UserRevocation[]> {
  const rows: UserRevocationRow[] = await store.sql`SELECT email, revoked_before, revoked_by FROM user_revocations ORDER BY revoked_before DESC, email`;
  return rows.map((r) => (r.revoked_by ? { email: r.email, revokedBefore: ms(r.revoked_before), revokedBy: r.revoked_by } : { email: r.email, revokedBefore: ms(r.revoked_before) }));
}

// Admin API tokens, `<id>.<secret>`. On its first start the edge makes one and leaves it in
// `<dataDir>/admin-token` (0600) for the admin commands run on the same machine.
import { join } from "node:path";
import { ADMIN_TOKEN_FILE, writePrivate } from "../paths.ts";
import { ADMIN_TOKEN_ID_PREFIX, hashSecret, joinIdSecret, randomId, randomSecret, splitIdSecret, verifySecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { isUniqueViolation, ms } from "./open.ts";
import { conflict, invalid } from "./errors.ts";

export type AdminToken = { id: string; name: string; createdAt: number };

type AdminTokenRow = { id: string; name: string; secret_hash: string; created_at: BigIntColumn };

export const BOOTSTRAP_ADMIN_TOKEN_NAME = "bootstrap";

/** A new admin token; `token` (`<id>.<secret>`) is the only copy there will be. */
export async function createAdminToken(store: Store, name: string): Promise<AdminToken & { token: string }> {
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw invalid(`"${name}" is not a valid admin token name; use letters, digits, ".", "_" or "-"`);
  const id = randomId(ADMIN_TOKEN_ID_PREFIX);
  const secret = randomSecret();
  const createdAt = Date.now();
  try {
    await store.sql`INSERT INTO admin_tokens (id, name, secret_hash, created_at) VALUES (${id}, ${name}, ${hashSecret(secret)}, ${createdAt})`;
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`an admin token named "${name}" already exists`);
    throw e;
  }
  return { id, name, createdAt, token: joinIdSecret(id, secret) };
}

/**
 * On the first start (no admin token in the store), creates one and writes it to
 * `<dataDir>/admin-token` with mode 0600. Later starts change nothing, so deleting the
 * file after copying the token elsewhere is safe.
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

/** The admin token this string is, when its secret checks out. */
export async function verifyAdminToken(store: Store, token: string): Promise<AdminToken | undefined> {
  const parts = typeof token === "string" ? splitIdSecret(token.trim()) : undefined;
  if (!parts) return undefined;
  const [row]: AdminTokenRow[] = await store.sql`SELECT id, name, created_at, secret_hash FROM admin_tokens WHERE id = ${parts.id}`;
  if (!row || !verifySecret(parts.secret, row.secret_hash)) return undefined;
  return { id: row.id, name: row.name, createdAt: ms(row.created_at) };
}

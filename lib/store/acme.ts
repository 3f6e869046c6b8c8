// ACME in the store: the account key per directory, a certificate row per name the edge wants
// (the edge's host, each application hostname), and HTTP-01 answers any node can serve. On
// PostgreSQL an advisory lock per name lets one node of a cluster order it at a time.
import type { SQL } from "bun";
import { ms, msOrUndefined, type BigIntColumn, type Store } from "./open.ts";
import { bumpAccessRevision } from "./revision.ts";

export type AcmeCertificate = {
  name: string;
  /** The chain (leaf first) and its key, once an order succeeded. */
  certPem?: string;
  keyPem?: string;
  issuer?: string;
  notBefore?: number;
  notAfter?: number;
  renewedAt?: number;
  failures: number;
  retryAt?: number;
  lastError?: string;
  lastAttemptAt?: number;
};

type CertRow = {
  name: string;
  cert_pem: string | null;
  key_pem: string | null;
  issuer: string | null;
  not_before: BigIntColumn | null;
  not_after: BigIntColumn | null;
  renewed_at: BigIntColumn | null;
  failures: number | string;
  retry_at: BigIntColumn | null;
  last_error: string | null;
  last_attempt_at: BigIntColumn | null;
};

const toCert = (r: CertRow): AcmeCertificate => {
  const c: AcmeCertificate = { name: r.name, failures: Number(r.failures) };
  if (r.cert_pem && r.key_pem) Object.assign(c, { certPem: r.cert_pem, keyPem: r.key_pem });
  const opt = { issuer: r.issuer ?? undefined, notBefore: msOrUndefined(r.not_before), notAfter: msOrUndefined(r.not_after), renewedAt: msOrUndefined(r.renewed_at), retryAt: msOrUndefined(r.retry_at), lastError: r.last_error ?? undefined, lastAttemptAt: msOrUndefined(r.last_attempt_at) };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined) (c as Record<string, unknown>)[k] = v;
  return c;
};

/** The account key for a directory: the stored one, or `fresh` stored now (the first node to store one wins). */
export async function acmeAccountKey(store: Store, directory: string, email: string, fresh: () => Promise<string>): Promise<string> {
  const read = async () => ((await store.sql`SELECT private_key FROM acme_accounts WHERE directory = ${directory}`) as { private_key: string }[])[0]?.private_key;
  const have = await read();
  if (have) return have;
  const key = await fresh();
  await store.sql`INSERT INTO acme_accounts (directory, email, private_key, created_at) VALUES (${directory}, ${email}, ${key}, ${Date.now()}) ON CONFLICT (directory) DO NOTHING`;
  return (await read())!;
}

export async function listAcmeCertificates(store: Store | SQL): Promise<AcmeCertificate[]> {
  const sql = "sql" in store ? store.sql : store;
  const rows: CertRow[] = await sql`SELECT * FROM acme_certificates ORDER BY name`;
  return rows.map(toCert);
}

export async function getAcmeCertificate(sql: SQL, name: string): Promise<AcmeCertificate | undefined> {
  const [row]: CertRow[] = await sql`SELECT * FROM acme_certificates WHERE name = ${name}`;
  return row && toCert(row);
}

/** The certificates the listener serves, and a key that changes when any of them does. */
export async function servedAcmeCertificates(store: Store): Promise<{ certs: Required<Pick<AcmeCertificate, "name" | "certPem" | "keyPem">>[]; key: string }> {
  const rows: { name: string; cert_pem: string; key_pem: string; not_after: BigIntColumn }[] = await store.sql`
    SELECT name, cert_pem, key_pem, not_after FROM acme_certificates WHERE cert_pem IS NOT NULL ORDER BY name`;
  return { certs: rows.map((r) => ({ name: r.name, certPem: r.cert_pem, keyPem: r.key_pem })), key: rows.map((r) => `${r.name}@${ms(r.not_after)}`).join(" ") };
}

/** Adds rows for names not yet known and deletes those no longer wanted; returns the deleted names. */
export async function syncAcmeNames(store: Store, wanted: string[]): Promise<string[]> {
  const rows: { name: string }[] = await store.sql`SELECT name FROM acme_certificates`;
  const have = new Set(rows.map((r) => r.name));
  for (const name of wanted) if (!have.has(name)) await store.sql`INSERT INTO acme_certificates (name) VALUES (${name}) ON CONFLICT (name) DO NOTHING`;
  const gone = [...have].filter((n) => !wanted.includes(n));
  if (gone.length) {
    await store.sql.begin(async (tx) => {
      for (const name of gone) await tx`DELETE FROM acme_certificates WHERE name = ${name}`;
      await bumpAccessRevision(tx); // every node stops serving them
    });
  }
  return gone;
}

/** An order's result; every node serves it once the access revision moves. */
export async function saveAcmeCertificate(sql: SQL, c: { name: string; certPem: string; keyPem: string; issuer: string; notBefore: number; notAfter: number }): Promise<void> {
  const now = Date.now();
  await sql`
    INSERT INTO acme_certificates (name, cert_pem, key_pem, issuer, not_before, not_after, renewed_at, failures, retry_at, last_error, last_attempt_at)
    VALUES (${c.name}, ${c.certPem}, ${c.keyPem}, ${c.issuer}, ${c.notBefore}, ${c.notAfter}, ${now}, 0, NULL, NULL, ${now})
    ON CONFLICT (name) DO UPDATE SET cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, issuer = excluded.issuer, not_before = excluded.not_before,
      not_after = excluded.not_after, renewed_at = excluded.renewed_at, failures = 0, retry_at = NULL, last_error = NULL, last_attempt_at = excluded.last_attempt_at`;
  await bumpAccessRevision(sql);
}

export async function recordAcmeFailure(sql: SQL, name: string, error: string, retryAt: number): Promise<void> {
  await sql`UPDATE acme_certificates SET failures = failures + 1, last_error = ${error}, retry_at = ${retryAt}, last_attempt_at = ${Date.now()} WHERE name = ${name}`;
}

// Any constant: the first half of the two-key advisory lock, the name's hash the second.
const ORDER_LOCK = 90_019;

/**
 * Runs `fn` while this node alone may order `name`: on PostgreSQL inside a transaction that
 * holds the name's advisory lock (undefined, without running, when another node holds it);
 * on SQLite (one node) at once. `fn` writes its result with the `sql` it is given.
 */
export async function withOrderLock<T>(store: Store, name: string, fn: (sql: SQL) => Promise<T>): Promise<T | undefined> {
  if (store.adapter !== "postgres") return fn(store.sql);
  return store.sql.begin(async (tx) => {
    const [row]: { got: boolean }[] = await tx`SELECT pg_try_advisory_xact_lock(${ORDER_LOCK}, hashtext(${name})) AS got`;
    return row?.got ? fn(tx) : undefined;
  });
}

export async function putAcmeChallenge(store: Store, token: string, keyAuthorization: string): Promise<void> {
  await store.sql`INSERT INTO acme_challenges (token, key_authorization, created_at) VALUES (${token}, ${keyAuthorization}, ${Date.now()})
    ON CONFLICT (token) DO UPDATE SET key_authorization = excluded.key_authorization`;
}

export async function getAcmeChallenge(store: Store, token: string): Promise<string | undefined> {
  const [row]: { key_authorization: string }[] = await store.sql`SELECT key_authorization FROM acme_challenges WHERE token = ${token}`;
  return row?.key_authorization;
}

export async function deleteAcmeChallenge(store: Store, token: string): Promise<void> {
  await store.sql`DELETE FROM acme_challenges WHERE token = ${token}`;
}

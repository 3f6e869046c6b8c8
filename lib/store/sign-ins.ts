// Users and org sessions. A sign-in (one-time PIN or OpenID Connect) makes a "browser"
// session, the edge's cookie; a device flow approved in that browser makes a "cli" session,
// the refresh token a client keeps to mint app tokens without a browser. Both end when the
// browser sign-in would have: a CLI session never outlives the sign-in that approved it.
import { hashSecret, joinIdSecret, randomId, randomSecret, splitIdSecret, verifySecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ms, msOrUndefined } from "./open.ts";

export const SIGN_IN_ID_PREFIX = "wks_";

/** browser: the edge's cookie; cli: `access login`'s; admin: `edge login`'s, the admin API's bearer. */
export type SignInKind = "browser" | "cli" | "admin";

/** Who signed in, as the policy evaluator sees it (lib/policy Subject, less the IP); `claims`:
 * what an OpenID Connect provider said of the user besides (none for a PIN sign-in). */
export type Identity = { email: string; idp: string; groups: string[]; amr: string[]; claims?: Record<string, unknown> };

/** `signedInAt`: when the person signed in at the identity provider, which a refreshed session carries on. */
export type SignIn = Identity & { id: string; kind: SignInKind; ip: string; createdAt: number; signedInAt: number; expiresAt: number; revokedAt?: number };

/** `groups`, `amr` and `claims` are JSON text. */
type OrgSessionRow = {
  id: string;
  secret_hash: string;
  kind: SignInKind;
  email: string;
  idp: string;
  groups: string;
  amr: string;
  claims: string;
  ip: string;
  created_at: BigIntColumn;
  signed_in_at: BigIntColumn | null;
  expires_at: BigIntColumn;
  revoked_at: BigIntColumn | null;
};

const toSession = (r: OrgSessionRow): SignIn => {
  const s: SignIn = {
    id: r.id,
    kind: r.kind,
    email: r.email,
    idp: r.idp,
    groups: JSON.parse(r.groups),
    amr: JSON.parse(r.amr),
    claims: JSON.parse(r.claims),
    ip: r.ip,
    createdAt: ms(r.created_at),
    signedInAt: msOrUndefined(r.signed_in_at) ?? ms(r.created_at),
    expiresAt: ms(r.expires_at),
  };
  const revokedAt = msOrUndefined(r.revoked_at);
  if (revokedAt !== undefined) s.revokedAt = revokedAt;
  return s;
};

/** Records a sign-in: the user's row is made on the first one. */
export async function recordSignIn(store: Store, email: string, idp: string): Promise<void> {
  const now = Date.now();
  const [row]: { email: string }[] = await store.sql`SELECT email FROM users WHERE email = ${email}`;
  if (row) await store.sql`UPDATE users SET idp = ${idp}, last_sign_in_at = ${now} WHERE email = ${email}`;
  else await store.sql`INSERT INTO users (email, idp, created_at, last_sign_in_at) VALUES (${email}, ${idp}, ${now}, ${now}) ON CONFLICT (email) DO NOTHING`;
}

/** A new session; `token` (`<id>.<secret>`) is the only copy there will be. */
export async function createSignIn(store: Store, s: Identity & { kind: SignInKind; ip: string; expiresAt: number; signedInAt?: number }): Promise<SignIn & { token: string }> {
  const id = randomId(SIGN_IN_ID_PREFIX, 12);
  const secret = randomSecret();
  const createdAt = Date.now();
  const signedInAt = s.signedInAt ?? createdAt;
  const claims = s.claims ?? {};
  await store.sql`INSERT INTO org_sessions (id, secret_hash, kind, email, idp, groups, amr, claims, ip, created_at, signed_in_at, expires_at)
    VALUES (${id}, ${hashSecret(secret)}, ${s.kind}, ${s.email}, ${s.idp}, ${JSON.stringify(s.groups)}, ${JSON.stringify(s.amr)}, ${JSON.stringify(claims)}, ${s.ip}, ${createdAt}, ${signedInAt}, ${s.expiresAt})`;
  return { id, kind: s.kind, email: s.email, idp: s.idp, groups: s.groups, amr: s.amr, claims, ip: s.ip, createdAt, signedInAt, expiresAt: s.expiresAt, token: joinIdSecret(id, secret) };
}

/** The live (not expired, not revoked) session of this kind that `token` is. */
export async function verifySignIn(store: Store, token: string | undefined, kind: SignInKind): Promise<SignIn | undefined> {
  const parts = token ? splitIdSecret(token.trim()) : undefined;
  if (!parts || !parts.id.startsWith(SIGN_IN_ID_PREFIX)) return undefined;
  const [row]: OrgSessionRow[] = await store.sql`SELECT * FROM org_sessions WHERE id = ${parts.id} AND kind = ${kind} AND revoked_at IS NULL AND expires_at > ${Date.now()}`;
  if (!row || !verifySecret(parts.secret, row.secret_hash)) return undefined;
  return toSession(row);
}

export async function getSignIn(store: Store, id: string): Promise<SignIn | undefined> {
  const [row]: OrgSessionRow[] = await store.sql`SELECT * FROM org_sessions WHERE id = ${id}`;
  return row ? toSession(row) : undefined;
}

/** Ends a session (sign-out, logout); its app tokens are refused from then on by whoever checks `sid`.
 * True for the one call that ended it: a swap (a refreshed `edge login`) is made by one caller only. */
export async function revokeSignIn(store: Store, id: string): Promise<boolean> {
  const rows: { id: string }[] = await store.sql`UPDATE org_sessions SET revoked_at = ${Date.now()} WHERE id = ${id} AND revoked_at IS NULL RETURNING id`;
  return rows.length > 0;
}

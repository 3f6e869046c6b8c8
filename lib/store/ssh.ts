// The edge's SSH certificate authority (one Ed25519 key, made on first use and kept in the
// store so every node signs with it) and the principals certificates name.
import { generateEd25519, privateFromPkcs8, publicLine, rawPublic } from "../ssh/format.ts";
import type { KeyObject } from "node:crypto";
import type { Store } from "./open.ts";
import { invalid, notFound } from "./errors.ts";
import { getServiceToken } from "./service-tokens.ts";
import { findApp } from "./zones.ts";

export interface SshCA {
  key: KeyObject;
  /** `ssh-ed25519 AAAA… wicket-ca`, for sshd's TrustedUserCAKeys. */
  publicKey: string;
}

const cache = new WeakMap<Store, SshCA>();

export async function sshCA(store: Store): Promise<SshCA> {
  const hit = cache.get(store);
  if (hit) return hit;
  let [row] = await store.sql`SELECT private_key, public_key FROM ssh_ca ORDER BY created_at LIMIT 1`;
  if (!row) {
    const { privateKey, raw } = generateEd25519();
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    // Two nodes starting at once: the first insert wins, and both read it back.
    await store.sql`INSERT INTO ssh_ca (id, private_key, public_key, created_at) VALUES ('ca', ${pem}, ${publicLine(raw, "wicket-ca")}, ${Date.now()}) ON CONFLICT (id) DO NOTHING`;
    [row] = await store.sql`SELECT private_key, public_key FROM ssh_ca ORDER BY created_at LIMIT 1`;
  }
  const key = privateFromPkcs8(row.private_key);
  const ca = { key, publicKey: publicLine(rawPublic(key), "wicket-ca") };
  cache.set(store, ca);
  return ca;
}

/** A Unix user name: what sshd will accept as a principal. */
const PRINCIPAL = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;

export function checkPrincipal(p: string): string {
  if (!PRINCIPAL.test(p)) throw invalid(`"${p}" is not a valid Unix user name for an SSH principal`);
  return p;
}

export async function setTokenPrincipal(store: Store, tokenIdOrName: string, principal: string) {
  checkPrincipal(principal);
  const token = await getServiceToken(store, tokenIdOrName);
  if (!token) throw notFound(`there is no service token "${tokenIdOrName}"`);
  await store.sql`DELETE FROM ssh_token_principals WHERE token_id = ${token.id}`;
  await store.sql`INSERT INTO ssh_token_principals (token_id, principal) VALUES (${token.id}, ${principal})`;
}

export async function tokenPrincipal(store: Store, tokenId: string): Promise<string | undefined> {
  const [row] = await store.sql`SELECT principal FROM ssh_token_principals WHERE token_id = ${tokenId}`;
  return row?.principal;
}

export type PrincipalMode = "localpart" | "email" | `claim:${string}`;

export function checkPrincipalMode(mode: string): PrincipalMode {
  if (mode === "localpart" || mode === "email" || /^claim:[A-Za-z0-9_.-]+$/.test(mode)) return mode as PrincipalMode;
  throw invalid(`"${mode}" is not a principal setting; use localpart, email or claim:<name>`);
}

export async function setAppPrincipalMode(store: Store, hostname: string, mode: string) {
  const m = checkPrincipalMode(mode);
  const app = await findApp(store, hostname);
  if (!app || app.hostname !== hostname) throw notFound(`there is no application "${hostname}"`);
  await store.sql`INSERT INTO ssh_app_principals (app, mode) VALUES (${hostname}, ${m}) ON CONFLICT (app) DO UPDATE SET mode = excluded.mode`;
}

/** Every application's principal setting that is not the default. */
export async function appPrincipalModes(store: Store): Promise<Map<string, PrincipalMode>> {
  const rows: { app: string; mode: string }[] = await store.sql`SELECT app, mode FROM ssh_app_principals`;
  return new Map(rows.map((r) => [r.app, r.mode as PrincipalMode]));
}

export async function appPrincipalMode(store: Store, app: string): Promise<PrincipalMode> {
  const [row] = await store.sql`SELECT mode FROM ssh_app_principals WHERE app = ${app}`;
  return (row?.mode as PrincipalMode) ?? "localpart";
}

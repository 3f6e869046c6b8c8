// The SSH certificate authorities: one Ed25519 key per application, made on first use and
// kept in the store so every node signs with it, so that a certificate obtained at one
// application opens no other application's server; and the principals certificates name.
import { generateEd25519, privateFromPkcs8, publicLine, rawPublic } from "../ssh/format.ts";
import { userPrincipalProblem } from "../ssh/principal.ts";
import type { KeyObject } from "node:crypto";
import type { Store } from "./open.ts";
import { invalid, notFound } from "./errors.ts";
import { getServiceToken } from "./service-tokens.ts";
import { findApp } from "./zones.ts";

export interface SshCA {
  /** The application whose certificates it signs (a `*.zone` wildcard for the hosts it serves). */
  app: string;
  key: KeyObject;
  /** `ssh-ed25519 AAAA… wicket-ca:<app>`, for sshd's TrustedUserCAKeys. */
  publicKey: string;
}

type CaRow = { private_key: string; public_key: string };

// Parsed keys by application, checked against the stored key on every use: an application
// removed and added again on another node has a new CA, and this node must not sign with the old.
const cache = new WeakMap<Store, Map<string, { pem: string; ca: SshCA }>>();

/**
 * The SSH CA of the application that serves `hostname` (the exact one, else its wildcard),
 * made the first time it is asked for; undefined if no application serves it. Removing the
 * application removes its CA (ON DELETE CASCADE).
 */
export async function appSshCA(store: Store, hostname: string): Promise<SshCA | undefined> {
  const app = await servingApp(store, hostname);
  if (!app) return undefined;
  const read = async (): Promise<CaRow | undefined> => (await store.sql`SELECT private_key, public_key FROM ssh_app_cas WHERE app = ${app}`)[0];
  let row = await read();
  if (!row) {
    const { privateKey, raw } = generateEd25519();
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    // Two nodes asking at once: the first insert wins, and both read it back.
    await store.sql`INSERT INTO ssh_app_cas (app, private_key, public_key, created_at) VALUES (${app}, ${pem}, ${publicLine(raw, `wicket-ca:${app}`)}, ${Date.now()}) ON CONFLICT (app) DO NOTHING`;
    row = await read();
    if (!row) return undefined; // removed meanwhile
  }
  let byApp = cache.get(store);
  if (!byApp) cache.set(store, (byApp = new Map()));
  const hit = byApp.get(app);
  if (hit?.pem === row.private_key) return hit.ca;
  const key = privateFromPkcs8(row.private_key);
  const ca = { app, key, publicKey: publicLine(rawPublic(key), `wicket-ca:${app}`) };
  byApp.set(app, { pem: row.private_key, ca });
  return ca;
}

/** The application serving a host, or the `*.zone` application named as such. */
async function servingApp(store: Store, hostname: string): Promise<string | undefined> {
  const name = String(hostname).trim().toLowerCase().replace(/\.$/, "");
  if (!name.startsWith("*.")) return (await findApp(store, name))?.hostname;
  const [row]: { hostname: string }[] = await store.sql`SELECT hostname FROM apps WHERE hostname = ${name}`;
  return row?.hostname;
}

/**
 * The edge-wide CA that signed every application's certificates before each had its own
 * (migration 60). It signs nothing now; its public key is kept so an administrator can find
 * the servers that still trust it. Undefined on an edge that never had one.
 */
export async function retiredEdgeSshCA(store: Store): Promise<string | undefined> {
  const [row]: { public_key: string }[] = await store.sql`SELECT public_key FROM ssh_ca ORDER BY created_at LIMIT 1`;
  return row?.public_key;
}

/** A service token's principal: a Unix user name, not a system account (lib/ssh/principal.ts). */
export function checkPrincipal(p: string): string {
  const problem = userPrincipalProblem(p);
  if (problem) throw invalid(problem);
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
  const [row]: { principal: string }[] = await store.sql`SELECT principal FROM ssh_token_principals WHERE token_id = ${tokenId}`;
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
  const [row]: { mode: string }[] = await store.sql`SELECT mode FROM ssh_app_principals WHERE app = ${app}`;
  return (row?.mode as PrincipalMode) ?? "localpart";
}

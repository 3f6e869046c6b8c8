// Named tunnels (cloudflared's model): a tunnel is an id and a secret in one zone; a route
// binds a hostname to exactly one tunnel; every replica of a tunnel shares its streams and no
// other tunnel gets them. Taking a route from another tunnel is an explicit overwrite.
import { hashSecret, randomId, randomSecret, TUNNEL_ID_PREFIX, verifySecret } from "../auth/secret.ts";
import { conflict, forbidden, invalid, notFound } from "./errors.ts";
import type { SQL } from "bun";
import type { BigIntColumn, Store } from "./open.ts";
import { isUniqueViolation, ms, msOrUndefined } from "./open.ts";
import { bumpAccessRevision } from "./revision.ts";
import { normalizeDnsName, zoneOfHostname } from "./zones.ts";

export { TUNNEL_ID_PREFIX };

/** A tunnel's name: what `tunnel create NAME` takes, unique in its zone. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** `credentialId`: the zone credential that made its secret (absent: made before that was
 * recorded); `secretExpiresAt`: never later than that credential's expiry; `disabled`: why its
 * credentials no longer let a connector in, while they do not. */
export type Tunnel = {
  id: string;
  name: string;
  zone: string;
  createdBy: string;
  createdAt: number;
  routes: string[];
  credentialId?: string;
  secretExpiresAt?: number;
  disabled?: string;
};
type TunnelRow = { id: string; name: string; zone: string; created_by: string; created_at: BigIntColumn; credential_id: string | null; secret_expires_at: BigIntColumn | null };
/** The zone credential whose secret a tunnel's was made with: `tunnel create` or the seed form. */
export type MadeWith = { credentialId: string; expiresAt?: number };
type CredentialState = { id: string; revoked_at: BigIntColumn | null; expires_at: BigIntColumn | null };

/** What the owner does once a tunnel's credentials stopped working. The refusals that say it fit
 * a connector's close reason (120 characters): it is told all of it, what to do included. */
const SERVE_AGAIN = "run `wicket tunnel login`, then `tunnel create` and `route`";

/** When the tunnel's secret stops working: its own expiry or its credential's, whichever is first. */
function secretEnds(r: TunnelRow, cred: CredentialState | undefined): number | undefined {
  const ends = [msOrUndefined(r.secret_expires_at), cred ? msOrUndefined(cred.expires_at) : undefined].filter((x): x is number => x !== undefined);
  return ends.length ? Math.min(...ends) : undefined;
}

/** Why the tunnel's credentials no longer let a connector in, or undefined while they do. */
function tunnelRefusal(r: TunnelRow, cred: CredentialState | undefined, now = Date.now()): string | undefined {
  if (r.credential_id !== null) {
    if (!cred) return `tunnel disabled: its zone credential is gone; ${SERVE_AGAIN}`;
    // the edge cannot tell its owner from someone who copied the credential: both lose it
    if (cred.revoked_at !== null) return `tunnel disabled: its zone credential was revoked; ${SERVE_AGAIN}`;
  }
  const at = secretEnds(r, cred);
  if (at !== undefined && at <= now) return `tunnel secret expired ${new Date(at).toISOString().slice(0, 16)}Z with its zone credential; run \`wicket tunnel login\`, \`tunnel token --rotate\``;
  return undefined;
}

async function credentialStates(store: Store, rows: TunnelRow[]): Promise<Map<string, CredentialState>> {
  const ids = [...new Set(rows.flatMap((r) => (r.credential_id === null ? [] : [r.credential_id])))];
  if (ids.length === 0) return new Map();
  const states: CredentialState[] = await store.sql`SELECT id, revoked_at, expires_at FROM zone_credentials WHERE id IN ${store.sql(ids)}`;
  return new Map(states.map((c) => [c.id, c]));
}

const toTunnel = (r: TunnelRow, routes: string[], cred: CredentialState | undefined): Tunnel => {
  const t: Tunnel = { id: r.id, name: r.name, zone: r.zone, createdBy: r.created_by, createdAt: ms(r.created_at), routes };
  if (r.credential_id !== null) t.credentialId = r.credential_id;
  const expires = msOrUndefined(r.secret_expires_at);
  if (expires !== undefined) t.secretExpiresAt = expires;
  const disabled = tunnelRefusal(r, cred);
  if (disabled) t.disabled = disabled;
  return t;
};

/** `rows` with their routes; `zone`: all rows are that zone's (only its routes are read). */
async function withRoutes(store: Store, rows: TunnelRow[], zone?: string): Promise<Tunnel[]> {
  if (rows.length === 0) return [];
  const creds = await credentialStates(store, rows);
  const routes: { hostname: string; tunnel_id: string }[] =
    rows.length === 1
      ? await store.sql`SELECT hostname, tunnel_id FROM tunnel_routes WHERE tunnel_id = ${rows[0]!.id} ORDER BY hostname`
      : zone
        ? await store.sql`SELECT r.hostname, r.tunnel_id FROM tunnel_routes r JOIN tunnels t ON t.id = r.tunnel_id WHERE t.zone = ${zone} ORDER BY r.hostname`
        : await store.sql`SELECT hostname, tunnel_id FROM tunnel_routes ORDER BY hostname`;
  return rows.map((r) => toTunnel(r, routes.filter((x) => x.tunnel_id === r.id).map((x) => x.hostname), r.credential_id === null ? undefined : creds.get(r.credential_id)));
}

/** Tunnels one zone may have: far more than a team runs, few enough that a credential cannot fill the store. */
const MAX_TUNNELS_PER_ZONE = 1000;
/** Hostnames the tunnels of one zone may have routed, for the same reason: routes outlive the
 * connections that made them. */
export const MAX_ROUTES_PER_ZONE = 10_000;

export function checkTunnelName(name: string): string {
  const n = String(name ?? "").trim();
  if (!NAME.test(n)) throw invalid(`"${name}" is not a valid tunnel name; use letters, digits, ".", "_" and "-", up to 63 characters`);
  // a name that looks like an id could be mistaken for another tunnel's
  if (n.startsWith(TUNNEL_ID_PREFIX)) throw invalid(`"${name}" is not a valid tunnel name: names may not start with ${TUNNEL_ID_PREFIX}, which tunnel ids do`);
  return n;
}

/** The seed form's tunnel name for a hostname: the hostname itself, or, past the name's 63
 * characters, its start and a hash of the whole. */
export function tunnelNameFor(hostname: string, suffix = ""): string {
  const name = hostname + suffix;
  if (name.length <= 63) return name;
  const hash = hashSecret(name).slice(0, 10);
  return `${hostname.slice(0, 63 - 11).replace(/[.-]+$/, "")}-${hash}`;
}

async function underCap(store: Store, zone: string): Promise<boolean> {
  const [row]: { n: BigIntColumn }[] = await store.sql`SELECT count(*) AS n FROM tunnels WHERE zone = ${zone}`;
  return Number(row?.n ?? 0) < MAX_TUNNELS_PER_ZONE;
}

async function ownedBy(store: Store, zone: string, owner: string): Promise<number> {
  const [row]: { n: BigIntColumn }[] = await store.sql`SELECT count(*) AS n FROM tunnels WHERE zone = ${zone} AND created_by = ${owner}`;
  return Number(row?.n ?? 0);
}

const zoneFull = (zone: string) => conflict(`the zone ${zone} already has ${MAX_TUNNELS_PER_ZONE} tunnels; delete some with "wicket tunnel delete"`);

/** A new tunnel in `zone`; the secret in the result is the only copy there will be. `createdBy`:
 * the owner of the zone credential (or the admin) that made it; `made`: that credential, whose
 * revocation or expiry the tunnel's secret does not outlive. */
export async function createTunnel(store: Store, zone: string, name: string, createdBy: string, made?: MadeWith): Promise<{ tunnel: Tunnel; secret: string }> {
  const n = checkTunnelName(name);
  if (!(await underCap(store, zone))) throw zoneFull(zone);
  const id = randomId(TUNNEL_ID_PREFIX);
  const secret = randomSecret();
  const createdAt = Date.now();
  try {
    await store.sql`
      INSERT INTO tunnels (id, name, zone, secret_hash, created_by, created_at, credential_id, secret_expires_at)
      VALUES (${id}, ${n}, ${zone}, ${hashSecret(secret)}, ${createdBy}, ${createdAt}, ${made?.credentialId ?? null}, ${made?.expiresAt ?? null})`;
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the zone ${zone} already has a tunnel named "${n}"; pick another name, or delete it first with "wicket tunnel delete ${n}"`);
    throw e;
  }
  const tunnel: Tunnel = { id, name: n, zone, createdBy, createdAt, routes: [] };
  if (made) Object.assign(tunnel, { credentialId: made.credentialId }, made.expiresAt !== undefined ? { secretExpiresAt: made.expiresAt } : {});
  return { tunnel, secret };
}

/**
 * The tunnel named `name` in `zone` made by `owner`, created if there is none: many connections
 * of one owner asking at once get the one tunnel. Undefined when the name is another owner's.
 * `maxOwned`: a new one only while the owner has fewer tunnels in the zone than that. With
 * `made`, a tunnel of the owner's disabled with the credential that made it is taken over by
 * this one (the seed form after a new `tunnel login`), with a fresh secret nobody holds.
 */
export async function ensureTunnel(store: Store, zone: string, name: string, owner: string, { made, maxOwned }: { made?: MadeWith; maxOwned?: number } = {}): Promise<Tunnel | undefined> {
  const n = checkTunnelName(name);
  const named = async () => ((await store.sql`SELECT * FROM tunnels WHERE zone = ${zone} AND name = ${n}`) as TunnelRow[])[0];
  // a tunnel that exists is not a new one: a full zone refuses only new names (looked up again
  // after the count, since another connection of the owner may have made it meanwhile)
  let row = await named();
  if (!row) {
    if (maxOwned !== undefined && (await ownedBy(store, zone, owner)) >= maxOwned) {
      throw conflict(`${owner} already has ${maxOwned} tunnels in the zone ${zone}; serve more hostnames from one (wicket tunnel route NAME HOSTNAME), or delete some (wicket tunnel delete)`);
    }
    if (await underCap(store, zone)) {
      await store.sql`
        INSERT INTO tunnels (id, name, zone, secret_hash, created_by, created_at, credential_id, secret_expires_at)
        VALUES (${randomId(TUNNEL_ID_PREFIX)}, ${n}, ${zone}, ${hashSecret(randomSecret())}, ${owner}, ${Date.now()}, ${made?.credentialId ?? null}, ${made?.expiresAt ?? null})
        ON CONFLICT (zone, name) DO NOTHING`;
    }
    row = await named();
    if (!row) throw zoneFull(zone);
  }
  if (!row || row.created_by !== owner) return undefined;
  const t = (await withRoutes(store, [row]))[0];
  if (t?.disabled && made) return rotateTunnelSecret(store, t.id, made).then((r) => r.tunnel);
  return t;
}

export async function listTunnels(store: Store, zone?: string): Promise<Tunnel[]> {
  const rows: TunnelRow[] = zone ? await store.sql`SELECT * FROM tunnels WHERE zone = ${zone} ORDER BY name` : await store.sql`SELECT * FROM tunnels ORDER BY zone, name`;
  return withRoutes(store, rows, zone);
}

/** A tunnel by id, or by name within `zone`. */
export async function getTunnel(store: Store, ref: string, zone?: string): Promise<Tunnel | undefined> {
  const rows: TunnelRow[] = zone
    ? await store.sql`SELECT * FROM tunnels WHERE zone = ${zone} AND (id = ${ref} OR name = ${ref})`
    : await store.sql`SELECT * FROM tunnels WHERE id = ${ref}`;
  // an id is an id: never a name (names may not look like one)
  const row = rows.find((r) => r.id === ref) ?? rows[0];
  return (await withRoutes(store, row ? [row] : []))[0];
}

/** Who a connector with a tunnel's own credentials is: `secretHash` tells a later rotation,
 * `expiresAt` when its secret ends. */
export type TunnelIdentity = { id: string; name: string; zone: string; secretHash: string; expiresAt?: number };

/** The tunnel when `secret` is its secret; why it is refused when the tunnel is disabled or its
 * secret expired; undefined when there is no such tunnel or the secret is wrong. */
export async function verifyTunnelSecret(store: Store, id: string, secret: string): Promise<TunnelIdentity | { refused: string } | undefined> {
  if (typeof id !== "string" || typeof secret !== "string" || !id.startsWith(TUNNEL_ID_PREFIX) || !secret) return undefined;
  const [row]: (TunnelRow & { secret_hash: string })[] = await store.sql`SELECT * FROM tunnels WHERE id = ${id}`;
  if (!row || !verifySecret(secret, row.secret_hash)) return undefined;
  const cred = row.credential_id === null ? undefined : (await credentialStates(store, [row])).get(row.credential_id);
  const refused = tunnelRefusal(row, cred);
  if (refused) return { refused };
  const expiresAt = secretEnds(row, cred);
  return { id: row.id, name: row.name, zone: row.zone, secretHash: row.secret_hash, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** Why a connection that authenticated as `who` may no longer serve: its tunnel deleted or
 * disabled, its secret expired or rotated; undefined while it may. */
export async function tunnelStanding(store: Store, who: TunnelIdentity): Promise<string | undefined> {
  const [row]: (TunnelRow & { secret_hash: string })[] = await store.sql`SELECT * FROM tunnels WHERE id = ${who.id}`;
  if (!row) return `the tunnel ${who.name} (${who.id}) was deleted`;
  const refused = tunnelRefusal(row, row.credential_id === null ? undefined : (await credentialStates(store, [row])).get(row.credential_id));
  if (refused) return refused;
  if (row.secret_hash !== who.secretHash) return "the tunnel secret was rotated; run it with the new token from `wicket tunnel token --rotate`";
  return undefined;
}

/**
 * A new secret for the tunnel, made with the zone credential `made` (which it then does not
 * outlive); the old secret is refused from now on and connections on it are cut when the
 * nodes see the revision move. A tunnel disabled with its old credential serves again.
 */
export async function rotateTunnelSecret(store: Store, id: string, made: MadeWith): Promise<{ tunnel: Tunnel; secret: string }> {
  const secret = randomSecret();
  await store.sql.begin(async (tx) => {
    await tx`UPDATE tunnels SET secret_hash = ${hashSecret(secret)}, credential_id = ${made.credentialId}, secret_expires_at = ${made.expiresAt ?? null} WHERE id = ${id}`;
    await bumpAccessRevision(tx);
  });
  const tunnel = await getTunnel(store, id);
  if (!tunnel) throw notFound(`the tunnel ${id} was deleted meanwhile; create a new one with "wicket tunnel create"`);
  return { tunnel, secret };
}

/** Unroutes the tunnels whose secrets these zone credentials made (in the transaction that
 * revokes them): a thief's `route --overwrite` goes with the thief's credential, and the
 * hostnames are free for the owner's next tunnel. Returns the tunnels, with the routes they had. */
export async function unrouteTunnelsOf(tx: SQL, credentialIds: string[]): Promise<{ id: string; name: string; routes: string[] }[]> {
  if (credentialIds.length === 0) return [];
  const tunnels: { id: string; name: string }[] = await tx`SELECT id, name FROM tunnels WHERE credential_id IN ${tx(credentialIds)} ORDER BY name`;
  if (tunnels.length === 0) return [];
  const ids = tunnels.map((t) => t.id);
  const routes: { hostname: string; tunnel_id: string }[] = await tx`SELECT hostname, tunnel_id FROM tunnel_routes WHERE tunnel_id IN ${tx(ids)} ORDER BY hostname`;
  await tx`DELETE FROM tunnel_routes WHERE tunnel_id IN ${tx(ids)}`;
  return tunnels.map((t) => ({ ...t, routes: routes.filter((r) => r.tunnel_id === t.id).map((r) => r.hostname) }));
}

/** The tunnels each zone credential made, by credential id. */
export async function tunnelsByCredential(store: Store): Promise<Map<string, Tunnel[]>> {
  const rows: TunnelRow[] = await store.sql`SELECT * FROM tunnels WHERE credential_id IS NOT NULL ORDER BY zone, name`;
  const out = new Map<string, Tunnel[]>();
  for (const t of await withRoutes(store, rows)) {
    const list = out.get(t.credentialId!);
    if (list) list.push(t);
    else out.set(t.credentialId!, [t]);
  }
  return out;
}

/** Removes a tunnel and its routes; live connections are cut when the nodes see the revision move. */
export async function deleteTunnel(store: Store, ref: string, zone?: string): Promise<Tunnel> {
  const t = await getTunnel(store, ref, zone);
  if (!t) throw notFound(`there is no tunnel "${ref}"${zone ? ` in the zone ${zone}` : ""}; see "wicket tunnel list"`);
  await store.sql.begin(async (tx) => {
    await tx`DELETE FROM tunnel_routes WHERE tunnel_id = ${t.id}`;
    await tx`DELETE FROM tunnels WHERE id = ${t.id}`;
    await bumpAccessRevision(tx);
  });
  return t;
}

/** The tunnel a hostname is routed to, if any. */
export async function routeOf(store: Store, hostname: string): Promise<{ id: string; name: string } | undefined> {
  const [row]: { id: string; name: string }[] = await store.sql`
    SELECT t.id, t.name FROM tunnel_routes r JOIN tunnels t ON t.id = r.tunnel_id WHERE r.hostname = ${hostname}`;
  return row;
}

export type RouteResult = { hostname: string; tunnel: { id: string; name: string }; replaced?: { id: string; name: string } };

/**
 * Routes `hostname` to the tunnel. The hostname's longest zone must be the tunnel's zone (a
 * parent zone's tunnel cannot take a nested zone's name). A hostname routed to another tunnel
 * is refused unless `overwrite`, and with `owner` only another tunnel of that owner's may lose
 * it; the replaced tunnel's connections lose it at the next re-check. A new route is refused
 * when the zone's tunnels have MAX_ROUTES_PER_ZONE.
 */
export async function routeHostname(
  store: Store,
  tunnel: { id: string; name: string; zone: string },
  hostname: string,
  { overwrite = false, owner }: { overwrite?: boolean; owner?: string } = {},
): Promise<RouteResult> {
  const name = normalizeDnsName(hostname);
  const zone = await zoneOfHostname(store, name);
  if (zone !== tunnel.zone) {
    throw invalid(zone ? `${name} belongs to the zone ${zone}, not ${tunnel.zone}: a tunnel of ${tunnel.zone} cannot serve it` : `${name} is not in any zone of this edge; it must lie in ${tunnel.zone}`);
  }
  const mine = { hostname: name, tunnel: { id: tunnel.id, name: tunnel.name } };
  try {
    return await store.sql.begin(async (tx) => {
      const [row]: { id: string; name: string; created_by: string }[] = await tx`SELECT t.id, t.name, t.created_by FROM tunnel_routes r JOIN tunnels t ON t.id = r.tunnel_id WHERE r.hostname = ${name}`;
      if (row?.id === tunnel.id) return mine;
      if (row && !overwrite) {
        throw conflict(`${name} is routed to the tunnel "${row.name}" (${row.id}); run that tunnel to serve it (wicket tunnel run ${row.name}), or take it over with --overwrite`);
      }
      if (row && owner !== undefined && row.created_by !== owner) {
        throw forbidden(`${name} is routed to the tunnel "${row.name}" of ${row.created_by}, not of ${owner}; ask them to delete that tunnel or route, or an admin (wicket edge tunnel rm ${row.id})`);
      }
      const old = row && { id: row.id, name: row.name };
      if (old) {
        await tx`UPDATE tunnel_routes SET tunnel_id = ${tunnel.id}, created_at = ${Date.now()} WHERE hostname = ${name}`;
        await bumpAccessRevision(tx);
      } else {
        const [n]: { n: BigIntColumn }[] = await tx`SELECT count(*) AS n FROM tunnel_routes r JOIN tunnels t ON t.id = r.tunnel_id WHERE t.zone = ${tunnel.zone}`;
        if (Number(n?.n ?? 0) >= MAX_ROUTES_PER_ZONE) throw conflict(`the tunnels of the zone ${tunnel.zone} already have ${MAX_ROUTES_PER_ZONE} hostnames routed; delete tunnels that no longer serve with "wicket tunnel delete"`);
        await tx`INSERT INTO tunnel_routes (hostname, tunnel_id, created_at) VALUES (${name}, ${tunnel.id}, ${Date.now()})`;
      }
      return { ...mine, ...(old ? { replaced: old } : {}) };
    });
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    // routed at the same moment: by another connection of this tunnel (fine), or by another tunnel
    const now = await routeOf(store, name);
    if (now?.id === tunnel.id) return mine;
    throw conflict(`${name} was just routed to the tunnel "${now?.name ?? "?"}"; see "wicket tunnel list"`);
  }
}

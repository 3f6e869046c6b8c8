// Zones (the domains the edge serves) and applications (a hostname in a zone, or the
// `*.zone` wildcard), and finding the application that serves a hostname.
import type { BigIntColumn, Store } from "./open.ts";
import { isUniqueViolation, ms, msOrUndefined } from "./open.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { bumpAccessRevision } from "./revision.ts";
import { dnsName } from "../net/dns-name.ts";
import { CERT_EXTRAS, isCertExtra, type CertExtra } from "../ssh/format.ts";
import { DEFAULT_RESUME_GRACE_MS, MAX_RESUME_GRACE_MS } from "../wire/frame.ts";

export type Zone = { name: string; createdAt: number };
/**
 * `sessionLengthMs`: how long a sign-in to the application lasts (the lifetime of the app
 * tokens the edge issues for it); the edge's default unless set for the application.
 * `allowSystemPrincipals`: its SSH certificates may name root and other system accounts;
 * `sshExtensions`: what they permit beyond a terminal and port forwarding.
 */
export type App = {
  hostname: string;
  zone: string;
  createdAt: number;
  sessionLengthMs: number;
  sessionLengthSet: boolean;
  allowSystemPrincipals: boolean;
  sshExtensions: CertExtra[];
  /** How long a cut session waits to be resumed (0: it is not resumable), and whether it is the application's own. */
  resumeGraceMs: number;
  resumeGraceSet: boolean;
};
/** What `addApp` and `editApp` set besides the hostname. */
export type AppSettings = { sessionLengthMs?: number; allowSystemPrincipals?: boolean; sshExtensions?: readonly string[]; resumeGraceMs?: number };

/** The session length of an application that has none of its own. */
export const DEFAULT_SESSION_LENGTH_MS = 24 * 3_600_000;
export const MIN_SESSION_LENGTH_MS = 60_000;
export const MAX_SESSION_LENGTH_MS = 365 * 24 * 3_600_000;

function checkResumeGrace(v: number | undefined | null): number | undefined | null {
  if (v === undefined || v === null) return v;
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_RESUME_GRACE_MS) throw invalid(`the resume grace must be from 0 (not resumable) to 5 minutes, e.g. 2m or 90s`);
  return v;
}

function checkSessionLength(v: number | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || v < MIN_SESSION_LENGTH_MS || v > MAX_SESSION_LENGTH_MS) {
    throw invalid(`the session length must be from 1 minute to 365 days, e.g. 24h or 30d`);
  }
  return v;
}

/** The extensions named, checked, once each and in a fixed order; `[]` for the defaults only. */
export function checkSshExtensions(names: readonly string[]): CertExtra[] {
  const bad = names.find((n) => !isCertExtra(n));
  if (bad !== undefined) throw invalid(`"${bad}" is not an SSH certificate extension an application can allow; use ${Object.keys(CERT_EXTRAS).join(", ")} or none`);
  return (Object.keys(CERT_EXTRAS) as CertExtra[]).filter((e) => names.includes(e));
}

/** Lower-cases a DNS name (lib/net/dns-name.ts) and drops a trailing dot; throws a usage error when it is not one. */
export function normalizeDnsName(input: string, what = "hostname"): string {
  const name = dnsName(input);
  if (name) return name;
  if (/^[0-9.]+$/.test(String(input).trim())) throw invalid(`"${input}" is an IP address, not a ${what}; use a DNS name`);
  throw invalid(`"${input}" is not a valid ${what}; use a DNS name such as ${what === "zone" ? "example.com" : "ssh.example.com"}`);
}

/** Lower-cased and checked; undefined instead of an error, for lookups of untrusted Host headers. */
function tryNormalize(hostname: string): string | undefined {
  try {
    return normalizeDnsName(hostname);
  } catch {
    return undefined;
  }
}

type ZoneRow = { name: string; created_at: BigIntColumn };
type AppRow = {
  hostname: string;
  zone: string;
  created_at: BigIntColumn;
  session_length_ms: BigIntColumn | null;
  allow_system_principals: BigIntColumn;
  ssh_extensions: string;
  resume_grace_ms: BigIntColumn | null;
};

const toZone = (r: ZoneRow): Zone => ({ name: r.name, createdAt: ms(r.created_at) });
const toApp = (r: AppRow): App => {
  const own = msOrUndefined(r.session_length_ms);
  const grace = msOrUndefined(r.resume_grace_ms);
  return {
    hostname: r.hostname,
    zone: r.zone,
    createdAt: ms(r.created_at),
    sessionLengthMs: own ?? DEFAULT_SESSION_LENGTH_MS,
    sessionLengthSet: own !== undefined,
    allowSystemPrincipals: Number(r.allow_system_principals) !== 0,
    sshExtensions: r.ssh_extensions ? checkSshExtensions(r.ssh_extensions.split(",")) : [],
    resumeGraceMs: grace ?? DEFAULT_RESUME_GRACE_MS,
    resumeGraceSet: grace !== undefined,
  };
};

/**
 * Adds a zone. A zone inside another takes its names with it: applications under it move into
 * it (its admins manage them, its tunnels serve them), and routes to them held by the parent's
 * tunnels are removed (those tunnels could no longer serve them; the re-check cuts them).
 */
export async function addZone(store: Store, name: string): Promise<Zone & { movedApps: string[]; unrouted: string[] }> {
  const zone = normalizeDnsName(name, "zone");
  const createdAt = Date.now();
  try {
    return await store.sql.begin(async (tx) => {
      await tx`INSERT INTO zones (name, created_at) VALUES (${zone}, ${createdAt})`;
      const zones = ((await tx`SELECT name FROM zones`) as { name: string }[]).map((z) => z.name);
      const movedApps: string[] = [];
      for (const app of (await tx`SELECT hostname, zone FROM apps`) as { hostname: string; zone: string }[]) {
        if (app.hostname.startsWith("*.") || zoneFor(app.hostname, zones) !== zone) continue;
        await tx`UPDATE apps SET zone = ${zone} WHERE hostname = ${app.hostname}`;
        movedApps.push(app.hostname);
      }
      const unrouted: string[] = [];
      for (const r of (await tx`SELECT r.hostname, t.zone FROM tunnel_routes r JOIN tunnels t ON t.id = r.tunnel_id`) as { hostname: string; zone: string }[]) {
        if (zoneFor(r.hostname, zones) !== zone) continue;
        await tx`DELETE FROM tunnel_routes WHERE hostname = ${r.hostname}`;
        unrouted.push(r.hostname);
      }
      await bumpAccessRevision(tx); // the other nodes issue its certificate, and re-check connectors
      return { name: zone, createdAt, movedApps, unrouted };
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the zone "${zone}" already exists`);
    throw e;
  }
}

/** The zone `hostname` lies in, by the store's zones now (see zoneFor). */
export async function zoneOfHostname(store: Store, hostname: string): Promise<string | undefined> {
  return zoneFor(hostname, (await listZones(store)).map((z) => z.name));
}

export async function listZones(store: Store): Promise<Zone[]> {
  const rows: ZoneRow[] = await store.sql`SELECT name, created_at FROM zones ORDER BY name`;
  return rows.map(toZone);
}

export async function getZone(store: Store, name: string): Promise<Zone | undefined> {
  const zone = tryNormalize(name);
  if (!zone) return undefined;
  const [row]: ZoneRow[] = await store.sql`SELECT name, created_at FROM zones WHERE name = ${zone}`;
  return row ? toZone(row) : undefined;
}

/** Removes a zone that no application uses, and revokes its zone credentials. */
export async function removeZone(store: Store, name: string): Promise<Zone> {
  const zone = normalizeDnsName(name, "zone");
  return store.sql.begin(async (tx) => {
    const [row]: ZoneRow[] = await tx`SELECT name, created_at FROM zones WHERE name = ${zone}`;
    if (!row) throw notFound(`there is no zone "${zone}"; see "wicket edge zone list"`);
    const apps: { hostname: string }[] = await tx`SELECT hostname FROM apps WHERE zone = ${zone} ORDER BY hostname`;
    // a nested zone's applications go back to the zone around it, as they came (addZone);
    // its wildcard, or applications with no zone around them, must be removed first
    const others = ((await tx`SELECT name FROM zones WHERE name <> ${zone}`) as { name: string }[]).map((z) => z.name);
    const stuck = apps.filter((a) => a.hostname.startsWith("*.") || !zoneFor(a.hostname, others));
    if (stuck.length > 0) {
      const names = stuck.map((a) => a.hostname).join(", ");
      throw conflict(`the zone "${zone}" still has ${stuck.length === 1 ? "an application" : `${stuck.length} applications`} (${names}); remove ${stuck.length === 1 ? "it" : "them"} first with "wicket edge app rm"`);
    }
    for (const a of apps) await tx`UPDATE apps SET zone = ${zoneFor(a.hostname, others)!} WHERE hostname = ${a.hostname}`;
    await tx`UPDATE zone_credentials SET revoked_at = ${Date.now()} WHERE zone = ${zone} AND revoked_at IS NULL`;
    // its tunnels go too: a zone added again later starts with none of the old tenant's
    await tx`DELETE FROM tunnels WHERE zone = ${zone}`;
    await tx`DELETE FROM zones WHERE name = ${zone}`;
    await bumpAccessRevision(tx);
    return toZone(row);
  });
}

/** The zone a hostname lies in: the longest zone it equals or is under. This is the one rule
 * that says whose a hostname is (applications, tunnel routes, connector claims). */
export function zoneFor(hostname: string, zones: string[]): string | undefined {
  return zones.filter((z) => hostname === z || hostname.endsWith("." + z)).sort((a, b) => b.length - a.length)[0];
}

/** A condition, for a query's WHERE, that `name` (an SQL expression giving a hostname, or
 * `*.<zone>`) lies in one of `mine` by zoneFor over `all` (the store's zones): under one of
 * `mine` and not under a zone nested in it that is not in `mine`. It runs in SQL, before a
 * LIMIT; the suffix test is an exact substr comparison, the same on SQLite and PostgreSQL. */
export function inZonesCondition(sql: Store["sql"], name: unknown, mine: string[], all: string[]) {
  const host = sql`(CASE WHEN substr(${name}, 1, 2) = '*.' THEN substr(${name}, 3) ELSE ${name} END)`;
  const under = (z: string) => sql`(${host} = ${z} OR substr(${host}, length(${host}) - CAST(${z.length} AS INTEGER)) = ${"." + z})`;
  const each = [...new Set(mine)].map((z) => {
    const nested = all.filter((n) => n.endsWith("." + z) && !mine.includes(n));
    return nested.reduce((a, n) => sql`${a} AND NOT ${under(n)}`, under(z));
  });
  if (!each.length) return sql`1 = 0`;
  return sql`(${each.reduce((a, b) => sql`${a} OR ${b}`)})`;
}

/** Adds an application: a hostname in an existing zone (the zone itself, a subdomain of it) or `*.<zone>`. */
export async function addApp(store: Store, hostname: string, opts: AppSettings = {}): Promise<App> {
  const sessionLength = checkSessionLength(opts.sessionLengthMs);
  const system = opts.allowSystemPrincipals ? 1 : 0;
  const extensions = checkSshExtensions(opts.sshExtensions ?? []).join(",");
  const grace = checkResumeGrace(opts.resumeGraceMs) ?? null;
  const raw = String(hostname).trim().toLowerCase();
  const zones = (await listZones(store)).map((z) => z.name);
  let name: string;
  let zone: string | undefined;
  if (raw.startsWith("*.")) {
    const base = normalizeDnsName(raw.slice(2));
    name = `*.${base}`;
    zone = zones.includes(base) ? base : undefined;
    if (!zone) throw invalid(`a wildcard application must be "*." followed by a zone, and "${base}" is not a zone; add it with "wicket edge zone add ${base}"`);
  } else {
    if (raw.includes("*")) throw invalid(`"${hostname}" is not a valid hostname; a wildcard may only be the whole first label, as in *.example.com`);
    name = normalizeDnsName(raw);
    zone = zoneFor(name, zones);
    if (!zone) throw invalid(`"${name}" is not in any zone; add its zone first with "wicket edge zone add <zone>"`);
  }
  const createdAt = Date.now();
  try {
    await store.sql.begin(async (tx) => {
      await tx`INSERT INTO apps (hostname, zone, created_at, session_length_ms, allow_system_principals, ssh_extensions, resume_grace_ms)
        VALUES (${name}, ${zone}, ${createdAt}, ${sessionLength ?? null}, ${system}, ${extensions}, ${grace})`;
      await bumpAccessRevision(tx); // with --tls acme, the nodes order its certificate
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw conflict(`the application "${name}" already exists`);
    throw e;
  }
  return toApp({ hostname: name, zone, created_at: createdAt, session_length_ms: sessionLength ?? null, allow_system_principals: system, ssh_extensions: extensions, resume_grace_ms: grace });
}

/**
 * Changes an application's settings; `sessionLengthMs: null` goes back to the default,
 * `sshExtensions: []` to a terminal and port forwarding only.
 */
export async function editApp(store: Store, hostname: string, changes: Omit<AppSettings, "sessionLengthMs" | "resumeGraceMs"> & { sessionLengthMs?: number | null; resumeGraceMs?: number | null }): Promise<App> {
  const name = String(hostname).trim().toLowerCase().replace(/\.$/, "");
  const [row]: AppRow[] = await store.sql`SELECT * FROM apps WHERE hostname = ${name}`;
  if (!row) throw notFound(`there is no application "${name}"; see "wicket edge app list"`);
  // all checked before anything changes
  const extensions = changes.sshExtensions && checkSshExtensions(changes.sshExtensions).join(",");
  const grace = checkResumeGrace(changes.resumeGraceMs);
  if (changes.sessionLengthMs !== undefined) {
    const v = changes.sessionLengthMs === null ? null : checkSessionLength(changes.sessionLengthMs)!;
    await store.sql`UPDATE apps SET session_length_ms = ${v} WHERE hostname = ${name}`;
    row.session_length_ms = v;
  }
  if (changes.allowSystemPrincipals !== undefined) {
    const v = changes.allowSystemPrincipals ? 1 : 0;
    await store.sql`UPDATE apps SET allow_system_principals = ${v} WHERE hostname = ${name}`;
    row.allow_system_principals = v;
  }
  if (extensions !== undefined) {
    await store.sql`UPDATE apps SET ssh_extensions = ${extensions} WHERE hostname = ${name}`;
    row.ssh_extensions = extensions;
  }
  if (grace !== undefined) {
    await store.sql`UPDATE apps SET resume_grace_ms = ${grace} WHERE hostname = ${name}`;
    row.resume_grace_ms = grace;
  }
  return toApp(row);
}

/**
 * How long a sign-in to the application serving `hostname` lasts (ms): what the app tokens
 * the edge issues for it are valid for. Undefined when no application serves the hostname.
 */
export async function appSessionLength(store: Store, hostname: string): Promise<number | undefined> {
  return (await findApp(store, hostname))?.sessionLengthMs;
}

export async function listApps(store: Store, zone?: string): Promise<App[]> {
  const rows: AppRow[] = zone
    ? await store.sql`SELECT * FROM apps WHERE zone = ${normalizeDnsName(zone, "zone")} ORDER BY hostname`
    : await store.sql`SELECT * FROM apps ORDER BY hostname`;
  return rows.map(toApp);
}

/** Removes an application and its policies. */
export async function removeApp(store: Store, hostname: string): Promise<App> {
  const name = String(hostname).trim().toLowerCase().replace(/\.$/, "");
  return store.sql.begin(async (tx) => {
    const [row]: AppRow[] = await tx`SELECT * FROM apps WHERE hostname = ${name}`;
    if (!row) throw notFound(`there is no application "${name}"; see "wicket edge app list"`);
    await tx`DELETE FROM policies WHERE app = ${name}`;
    // a new application of the same name starts from the default principal
    await tx`DELETE FROM ssh_app_principals WHERE app = ${name}`;
    await tx`DELETE FROM apps WHERE hostname = ${name}`;
    await bumpAccessRevision(tx);
    return toApp(row);
  });
}

/**
 * The application that serves `hostname`: the exact one if there is one, else the
 * `*.<parent>` wildcard, which covers exactly one label (`*.site.com` covers
 * `a.site.com`, not `site.com` nor `a.b.site.com`).
 */
export async function findApp(store: Store, hostname: string): Promise<App | undefined> {
  const name = tryNormalize(hostname);
  if (!name) return undefined;
  const dot = name.indexOf(".");
  const wildcard = dot > 0 ? `*.${name.slice(dot + 1)}` : undefined;
  const rows: AppRow[] = await store.sql`SELECT * FROM apps WHERE hostname = ${name} OR hostname = ${wildcard ?? name}`;
  const row = rows.find((r) => r.hostname === name) ?? rows[0];
  if (!row) return undefined;
  // a zone's own name is that zone's, not covered by its parent's wildcard
  if (row.hostname !== name && (await getZone(store, name))) return undefined;
  return toApp(row);
}

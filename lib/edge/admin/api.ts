// The admin API under /api/v1/: zones, applications, service tokens, policies, tunnel
// credentials, the audit trail, live sessions and revocation, as JSON over HTTP with a
// bearer admin token. Errors are `{ error }` with one sentence that says what to do; secrets
// are returned once and never logged. Every change is written to the audit.
import { formatZoneCredential } from "../../auth/zone-credential.ts";
import { EXIT, WicketError } from "../../cli/exit.ts";
import { log } from "../../cli/log.ts";
import { describeRules } from "../../admin/output.ts";
import { normalizeIp } from "../../policy/cidr.ts";
import { decisionMessage, type Subject } from "../../policy/evaluate.ts";
import {
  addApp,
  addPolicy,
  editApp,
  editPolicy,
  getServiceToken,
  listUserRevocations,
  queryAudit,
  revokeUser,
  writeAudit,
  type AuditEntry,
  addZone,
  addZoneAdmins,
  listZoneAdmins,
  removeZoneAdmins,
  revokeZoneCredentialsOf,
  credentialOwner,
  revokeZoneCredential,
  listZoneCredentials,
  listTunnels,
  deleteTunnel,
  createTunnel,
  getTunnel,
  routeHostname,
  verifyZoneCredential,
  type ZoneCredential,
  getZone,
  parseZoneAdmin,
  createServiceToken,
  createZoneCredential,
  listApps,
  listPolicies,
  listServiceTokens,
  listZones,
  removeApp,
  removePolicy,
  removeServiceToken,
  removeZone,
  StoreError,
  verifyAdminToken,
  type AdminToken,
  type Store,
  checkPrincipal,
  checkPrincipalMode,
  appSshCA,
  retiredEdgeSshCA,
  setAppPrincipalMode,
  appPrincipalMode,
  appPrincipalModes,
  setTokenPrincipal,
  allSigningKeys,
  retireSigningKeysExcept,
  auditedOpenSession,
  revokeSessionEverywhere,
  listNodes,
  listAcmeCertificates,
  type AcmeCertificate,
  type App,
  allBrowserSsh,
  BROWSER_SSH_OFF,
  browserSsh,
  getRecording,
  listRecordings,
  setBrowserSsh,
  type BrowserSsh,
  type BrowserSshChanges,
} from "../../store/index.ts";
import { reloadSigningKeys, rotateSigningKey } from "../../auth/jwt.ts";
import { decide } from "../decisions/authorize.ts";
import type { ConnectorRegistry } from "../streams/connectors.ts";
import type { LiveSessions } from "../decisions/live-sessions.ts";
import { BODY_LIMITS, BodyRefused, readJson } from "../http/body.ts";
import { clusterSessions, type ClusterNode } from "../cluster/sessions.ts";
import type { Acme } from "../http/acme.ts";
import { DEFAULT_KEEPALIVE } from "../../wire/mux.ts";
import { castResponse } from "../terminal/cast.ts";

export type AdminContext = {
  store: Store;
  /** The edge's public URL, written into tunnel credentials. */
  publicUrl: string;
  /** The edge's own CA certificate (self-signed TLS), bundled into tunnel credentials. */
  caPem?: string;
  /** Called after a zone is added or removed: the edge issues or drops its TLS certificate. */
  onZonesChanged(): Promise<void>;
  /** How long zone credentials issued here last (ms); default DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS. */
  credentialLifetimeMs?: number;
  /** This node's connector connections, counted per tunnel in listings. */
  connectors?: ConnectorRegistry;
  /** This node's live sessions: cut on revocation and re-checked after policy changes. */
  sessions?: LiveSessions;
  /** This node in the cluster's registry (PostgreSQL); undefined on a single SQLite node. */
  node?: () => ClusterNode | undefined;
  /** With --tls acme: the certificates' orders (`edge cert renew`). */
  acme?: () => Acme | undefined;
};

export const ADMIN_API_PREFIX = "/api/v1/";

const STATUS: Record<StoreError["kind"], number> = { invalid: 400, "not-found": 404, conflict: 409, forbidden: 403 };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  // no-store: responses can carry secrets that are shown once.
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

async function readBody(req: Request): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await readJson(req, BODY_LIMITS.admin);
  } catch (e) {
    if (e instanceof BodyRefused) throw new HttpError(e.status, e.message);
    throw new HttpError(400, "the request body must be a JSON object");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the request body must be a JSON object");
  return body as Record<string, unknown>;
}

function field(body: Record<string, unknown>, ...names: string[]): string {
  for (const n of names) if (typeof body[n] === "string" && body[n]) return body[n] as string;
  throw new HttpError(400, `the request body needs "${names[0]}" (a string)`);
}

async function zonesChanged(ctx: AdminContext) {
  try {
    await ctx.onZonesChanged();
  } catch (e) {
    log.warn(`admin: the zone change is saved, but updating the edge's certificates failed: ${(e as Error).message}`);
  }
}

/** For the audit: the zone credentials revoked and tunnels deleted with a person. */
const revokedWhat = (r: { credentials: string[]; tunnels: string[] }) =>
  (r.credentials.length ? `; revoked their zone credentials ${r.credentials.join(", ")}` : "") + (r.tunnels.length ? `; deleted their tunnels ${r.tunnels.join(", ")}` : "");

type Route = (req: Request, ctx: AdminContext, arg: string, who: AdminToken, url: URL) => Promise<Response>;

/**
 * Logs and audits an admin action. The change is already made, so a failed audit write
 * cannot undo it: it is logged as an error for the operator to see.
 */
async function record(ctx: AdminContext, who: AdminToken, action: string, reason: string, more: Partial<AuditEntry> = {}) {
  log.info(`admin ${who.name}: ${reason}`);
  try {
    await writeAudit(ctx.store, { kind: "admin", actor: who.name, identity: who.name, action, reason, ...more });
  } catch (e) {
    log.error(`audit: cannot record "${reason}" by admin ${who.name}: ${(e as Error).message}`);
  }
}

/** After a change that can take access away: re-check this node's live sessions; how many were cut. */
const recheck = async (ctx: AdminContext) => (ctx.sessions ? await ctx.sessions.recheck() : 0);

const optString = (b: Record<string, unknown>, k: string): string | undefined => {
  if (b[k] === undefined || b[k] === null || b[k] === "") return undefined;
  if (typeof b[k] !== "string") throw new HttpError(400, `"${k}" must be a string`);
  return b[k] as string;
};
const optStrings = (b: Record<string, unknown>, k: string): string[] | undefined => {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === "string")) throw new HttpError(400, `"${k}" must be a list of strings`);
  return list as string[];
};
const ruleList = (b: Record<string, unknown>, k: string) => (b[k] === undefined ? undefined : Array.isArray(b[k]) ? (b[k] as unknown[]) : [b[k]]);

function sessionLength(b: Record<string, unknown>): number | null | undefined {
  const v = b.sessionLengthMs;
  if (v === undefined || v === null) return v as undefined | null;
  if (typeof v !== "number") throw new HttpError(400, `"sessionLengthMs" must be a number of milliseconds, or null for the default`);
  return v;
}

/** The principal setting asked for, checked, or undefined when the body has none. */
function sshPrincipal(b: Record<string, unknown>): string | undefined {
  if (b.sshPrincipal === undefined) return undefined;
  if (typeof b.sshPrincipal !== "string") throw new HttpError(400, `"sshPrincipal" must be localpart, email or claim:<name>`);
  return checkPrincipalMode(b.sshPrincipal);
}

/** What the application's SSH certificates may name and permit (`allowSystemPrincipals`, `sshExtensions`), as asked; the store checks the names. */
function certChanges(b: Record<string, unknown>): { allowSystemPrincipals?: boolean; sshExtensions?: string[] } {
  const out: { allowSystemPrincipals?: boolean; sshExtensions?: string[] } = {};
  if (b.allowSystemPrincipals !== undefined) {
    if (typeof b.allowSystemPrincipals !== "boolean") throw new HttpError(400, `"allowSystemPrincipals" must be true or false`);
    out.allowSystemPrincipals = b.allowSystemPrincipals;
  }
  if (b.sshExtensions !== undefined) {
    if (!Array.isArray(b.sshExtensions) || b.sshExtensions.some((e) => typeof e !== "string")) throw new HttpError(400, `"sshExtensions" must be a list of agent, x11 and user-rc ([] for none)`);
    out.sshExtensions = b.sshExtensions as string[];
  }
  return out;
}

const certWords = (a: App, c: { allowSystemPrincipals?: boolean; sshExtensions?: string[] }) =>
  [
    c.allowSystemPrincipals !== undefined ? `system-account principals ${a.allowSystemPrincipals ? "allowed" : "refused"}` : "",
    c.sshExtensions !== undefined ? `SSH extensions ${a.sshExtensions.join(",") || "none"}` : "",
  ].filter(Boolean);

/** Browser SSH settings asked for (`browserSsh`, `record`, `recordInput`, `acceptHostKey`), checked; undefined when none. */
function browserChanges(b: Record<string, unknown>): BrowserSshChanges | undefined {
  const out: BrowserSshChanges = {};
  for (const [k, to] of [["browserSsh", "enabled"], ["record", "record"], ["recordInput", "recordInput"], ["acceptHostKey", "acceptHostKey"]] as const) {
    if (b[k] === undefined) continue;
    if (typeof b[k] !== "boolean") throw new HttpError(400, `"${k}" must be true or false`);
    out[to] = b[k] as boolean;
  }
  // bytes, or null for the edge's default
  const limit = b.recordingLimit;
  if (limit !== undefined) {
    if (limit !== null && (typeof limit !== "number" || !Number.isSafeInteger(limit))) throw new HttpError(400, `"recordingLimit" must be a whole number of bytes, or null for the default`);
    out.recordingLimit = limit;
  }
  return Object.keys(out).length ? out : undefined;
}

/** What an application shows of its browser SSH settings. */
const browserInfo = (s: BrowserSsh) => ({ browserSsh: s.enabled, record: s.record, recordInput: s.recordInput, recordingLimit: s.recordingLimit ?? null, hostKey: s.hostKey ?? null, refusedHostKey: s.refusedHostKey ?? null });

const browserWords = (c: BrowserSshChanges) =>
  [
    c.enabled !== undefined ? `browser SSH ${c.enabled ? "on" : "off"}` : "",
    c.record !== undefined ? `recording ${c.record ? "on" : "off"}` : "",
    c.recordInput !== undefined ? `recording input ${c.recordInput ? "on" : "off"}` : "",
    c.recordingLimit !== undefined ? `recording limit ${c.recordingLimit === null ? "the default" : `${c.recordingLimit} B`}` : "",
    c.acceptHostKey ? "accepted the server's new host key" : "",
  ].filter(Boolean);

function auditQuery(url: URL) {
  const p = url.searchParams;
  const num = (k: string) => {
    const v = p.get(k);
    if (v === null || v === "") return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpError(400, `the query parameter "${k}" must be a whole number`);
    return n;
  };
  const kind = p.get("kind") || undefined;
  if (kind && kind !== "decision" && kind !== "session-end" && kind !== "admin") throw new HttpError(400, `"kind" must be decision, session-end or admin`);
  return {
    since: num("since"),
    after: p.get("after") || undefined,
    user: p.get("user") || undefined,
    host: p.get("host") || undefined,
    denied: p.get("denied") === "1" || p.get("denied") === "true",
    kind: kind as "decision" | "session-end" | "admin" | undefined,
    limit: num("limit"),
  };
}

/** A certificate without its key. */
const certInfo = ({ keyPem: _key, certPem: _cert, ...c }: AcmeCertificate) => c;

/** The audit fields that name a policy. */
const policyTarget = (p: { id: string; app: string; name: string }) => ({ target: p.id, host: p.app, policyId: p.id, policyName: p.name });

const routes: Record<string, Route> = {
  "GET zones": async (_req, ctx) => json(200, { zones: await Promise.all((await listZones(ctx.store)).map(async (z) => ({ ...z, admins: await listZoneAdmins(ctx.store, z.name) }))) }),
  "POST zones": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.admins !== undefined && (!Array.isArray(body.admins) || body.admins.some((a) => typeof a !== "string"))) throw new HttpError(400, `"admins" must be a list of strings`);
    const admins = ((body.admins as string[] | undefined) ?? []).map(parseZoneAdmin); // checked before the zone is made
    const { movedApps, unrouted, ...added } = await addZone(ctx.store, field(body, "name", "zone"));
    const zone = { ...added, admins: [] as string[] };
    if (admins.length) zone.admins = await addZoneAdmins(ctx.store, zone.name, admins);
    const took = [movedApps.length ? `; the applications ${movedApps.join(", ")} moved into it` : "", unrouted.length ? `; the parent zone's tunnels lost ${unrouted.join(", ")}` : ""].join("");
    await record(ctx, who, "zone.add", `added zone ${zone.name}${admins.length ? ` administered by ${admins.join(", ")}` : ""}${took}`, { target: zone.name });
    await zonesChanged(ctx);
    return json(201, { zone });
  },
  "PATCH zones/:": async (req, ctx, arg, who) => {
    const body = await readBody(req);
    const add = (optStrings(body, "addAdmins") ?? []).map(parseZoneAdmin);
    const remove = (optStrings(body, "removeAdmins") ?? []).map(parseZoneAdmin);
    if (add.length + remove.length === 0) throw new HttpError(400, `say what to change: "addAdmins" or "removeAdmins"`);
    const zone = await getZone(ctx.store, arg);
    if (!zone) throw new HttpError(404, `there is no zone "${arg}"`);
    // an admin removed loses the zone credentials they obtained for it and the tunnels they made,
    // and their connectors with them
    const revoked = { credentials: [] as string[], tunnels: [] as string[] };
    if (remove.length) {
      await removeZoneAdmins(ctx.store, zone.name, remove);
      for (const p of remove.map(parseZoneAdmin)) {
        if (!p.startsWith("email:")) continue;
        const r = await revokeZoneCredentialsOf(ctx.store, p.slice(6), zone.name);
        revoked.credentials.push(...r.credentials);
        revoked.tunnels.push(...r.tunnels);
      }
    }
    const admins = add.length ? await addZoneAdmins(ctx.store, zone.name, add) : await listZoneAdmins(ctx.store, zone.name);
    const what = [add.length ? `added ${add.join(", ")}` : "", remove.length ? `removed ${remove.join(", ")}` : ""].filter(Boolean).join(" and ");
    await record(ctx, who, "zone.edit", `${what} as admins of zone ${zone.name}${revokedWhat(revoked)}`, { target: zone.name });
    return json(200, { zone: { ...zone, admins } });
  },
  "DELETE zones/:": async (_req, ctx, arg, who) => {
    const zone = await removeZone(ctx.store, arg);
    await record(ctx, who, "zone.remove", `removed zone ${zone.name}`, { target: zone.name });
    await zonesChanged(ctx);
    return json(200, { zone });
  },

  "GET apps": async (_req, ctx, _arg, _who, url) => {
    const modes = await appPrincipalModes(ctx.store);
    const apps = await listApps(ctx.store, url.searchParams.get("zone") || undefined);
    const browser = await allBrowserSsh(ctx.store);
    return json(200, { apps: apps.map((a) => ({ ...a, sshPrincipal: modes.get(a.hostname) ?? "localpart", ...browserInfo(browser.get(a.hostname) ?? BROWSER_SSH_OFF) })) });
  },
  "POST apps": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    const mode = sshPrincipal(b);
    const browser = browserChanges(b);
    const cert = certChanges(b);
    if (browser?.acceptHostKey) throw new HttpError(400, `a new application has no host key to accept`);
    const app = await addApp(ctx.store, field(b, "hostname"), { sessionLengthMs: sessionLength(b) ?? undefined, ...cert });
    if (mode) await setAppPrincipalMode(ctx.store, app.hostname, mode);
    const settings = browser ? await setBrowserSsh(ctx.store, app.hostname, browser) : BROWSER_SSH_OFF; // a new application has no settings yet
    const extras = [
      app.sessionLengthSet ? `session length ${app.sessionLengthMs} ms` : "",
      mode ? `SSH principal ${mode}` : "",
      ...certWords(app, cert),
      ...(browser ? browserWords(browser) : []),
    ]
      .filter(Boolean)
      .join(", ");
    await record(ctx, who, "app.add", `added application ${app.hostname}${extras ? ` (${extras})` : ""}`, { target: app.hostname, host: app.hostname });
    return json(201, { app: { ...app, sshPrincipal: mode ?? "localpart", ...browserInfo(settings) } });
  },
  "PATCH apps/:": async (req, ctx, arg, who) => {
    const b = await readBody(req);
    const mode = sshPrincipal(b);
    const length = sessionLength(b);
    const browser = browserChanges(b);
    const cert = certChanges(b);
    if (length === undefined && !mode && !browser && !Object.keys(cert).length) {
      throw new HttpError(400, `say what to change: "sessionLengthMs", "sshPrincipal", "allowSystemPrincipals", "sshExtensions", "browserSsh", "record", "recordInput", "recordingLimit" or "acceptHostKey"`);
    }
    const app = await editApp(ctx.store, arg, { sessionLengthMs: length, ...cert });
    if (mode) await setAppPrincipalMode(ctx.store, app.hostname, mode);
    const settings = browser ? await setBrowserSsh(ctx.store, app.hostname, browser) : await browserSsh(ctx.store, app.hostname);
    const changes = [
      length !== undefined ? `session length ${app.sessionLengthSet ? `${app.sessionLengthMs} ms` : "the default"}` : "",
      mode ? `SSH principal ${mode}` : "",
      ...certWords(app, cert),
      ...(browser ? browserWords(browser) : []),
    ].filter(Boolean);
    await record(ctx, who, "app.edit", `changed application ${app.hostname}: ${changes.join(", ")}`, { target: app.hostname, host: app.hostname });
    return json(200, { app: { ...app, sshPrincipal: await appPrincipalMode(ctx.store, app.hostname), ...browserInfo(settings) } });
  },
  "DELETE apps/:": async (_req, ctx, arg, who) => {
    const app = await removeApp(ctx.store, arg);
    await record(ctx, who, "app.remove", `removed application ${app.hostname} and its policies`, { target: app.hostname, host: app.hostname });
    return json(200, { app, sessionsClosed: await recheck(ctx) });
  },

  // An application's SSH CA key, and the retired edge-wide one, so servers that trust it can be found.
  "GET ssh-ca": async (_req, ctx, _arg, _who, url) => {
    const hostname = url.searchParams.get("hostname");
    if (!hostname) throw new HttpError(400, `name the application whose SSH CA you want: "wicket edge ssh-ca <hostname>"`);
    const ca = await appSshCA(ctx.store, hostname);
    if (!ca) throw new HttpError(404, `there is no application "${hostname}", so no SSH CA; see "wicket edge app list"`);
    return json(200, { app: ca.app, publicKey: ca.publicKey, retiredEdgeKey: (await retiredEdgeSshCA(ctx.store)) ?? null });
  },

  "GET tokens": async (_req, ctx) => json(200, { tokens: await listServiceTokens(ctx.store) }),
  "POST tokens": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.principal !== undefined) checkPrincipal(String(body.principal)); // before the token exists
    const { secret, ...token } = await createServiceToken(ctx.store, field(body, "name"));
    if (body.principal !== undefined) await setTokenPrincipal(ctx.store, token.id, String(body.principal));
    await record(ctx, who, "token.create", `created service token "${token.name}" (${token.id})${body.principal ? ` with SSH principal ${body.principal}` : ""}`, { target: token.name, tokenId: token.id });
    return json(201, { ...token, secret });
  },
  "DELETE tokens/:": async (_req, ctx, arg, who) => {
    const token = await removeServiceToken(ctx.store, arg);
    // Cut this node's sessions of the token before answering, so that when the command
    // returns they are gone; other nodes see the access revision move.
    const cut = ctx.sessions?.cutToken(token.id, `service token "${token.name}" was revoked`) ?? [];
    await record(ctx, who, "token.revoke", `revoked service token "${token.name}" (${token.id}), closing ${cut.length} live session${cut.length === 1 ? "" : "s"}`, {
      target: token.name,
      tokenId: token.id,
    });
    return json(200, { token, sessionsClosed: cut.length });
  },

  "GET policies": async (_req, ctx, _arg, _who, url) => json(200, { policies: await listPolicies(ctx.store, url.searchParams.get("app") || undefined) }),
  "POST policies": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    if (b.position !== undefined && typeof b.position !== "number") throw new HttpError(400, `"position" must be a number`);
    const policy = await addPolicy(ctx.store, {
      app: field(b, "app", "hostname"),
      name: field(b, "name"),
      action: field(b, "action"),
      include: ruleList(b, "include") ?? [],
      exclude: ruleList(b, "exclude"),
      require: ruleList(b, "require"),
      position: b.position as number | undefined,
    });
    await record(ctx, who, "policy.add", `added policy "${policy.name}" (${policy.id}) to ${policy.app} at position ${policy.position}: ${policy.action} ${describeRules(policy.rules)}`, policyTarget(policy));
    return json(201, { policy, sessionsClosed: await recheck(ctx) });
  },
  "PATCH policies/:": async (req, ctx, arg, who) => {
    const b = await readBody(req);
    if (b.position !== undefined && typeof b.position !== "number") throw new HttpError(400, `"position" must be a number`);
    const policy = await editPolicy(ctx.store, arg, {
      name: optString(b, "name"),
      action: optString(b, "action"),
      include: ruleList(b, "include"),
      exclude: ruleList(b, "exclude"),
      require: ruleList(b, "require"),
      position: b.position as number | undefined,
    });
    await record(ctx, who, "policy.edit", `changed policy "${policy.name}" (${policy.id}) of ${policy.app}, now at position ${policy.position}: ${policy.action} ${describeRules(policy.rules)}`, policyTarget(policy));
    return json(200, { policy, sessionsClosed: await recheck(ctx) });
  },
  "DELETE policies/:": async (_req, ctx, arg, who) => {
    const policy = await removePolicy(ctx.store, arg);
    await record(ctx, who, "policy.remove", `removed policy "${policy.name}" (${policy.id}) from ${policy.app}`, policyTarget(policy));
    return json(200, { policy, sessionsClosed: await recheck(ctx) });
  },
  "POST policy-test": async (req, ctx) => {
    const b = await readBody(req);
    const host = field(b, "host", "hostname").trim().toLowerCase();
    const subject: Subject = {};
    const token = optString(b, "token");
    const email = optString(b, "email");
    if (token && email) throw new HttpError(400, "a client is either a service token or a user; pass --token or --email, not both");
    if (token) {
      const t = await getServiceToken(ctx.store, token);
      if (!t) throw new HttpError(400, `there is no service token "${token}"; see "wicket edge token list"`);
      subject.serviceToken = { id: t.id, name: t.name };
    }
    if (email) subject.email = email;
    const groups = optStrings(b, "groups");
    if (groups?.length) subject.groups = groups;
    const idp = optString(b, "idp");
    if (idp) subject.idp = idp;
    const amr = optStrings(b, "amr");
    if (amr?.length) subject.amr = amr;
    const ipText = optString(b, "ip");
    if (ipText) {
      const ip = normalizeIp(ipText);
      if (!ip) throw new HttpError(400, `"${ipText}" is not an IPv4 or IPv6 address`);
      subject.ip = ip;
    }
    const { app, decision } = await decide(ctx.store, host, subject);
    return json(200, { host, app: app?.hostname ?? null, subject, decision, message: decisionMessage(host, decision) });
  },

  "GET recordings": async (_req, ctx, _arg, _who, url) => {
    const limit = url.searchParams.get("limit");
    return json(200, { recordings: await listRecordings(ctx.store, { user: url.searchParams.get("user") || undefined, host: url.searchParams.get("host") || undefined, limit: limit ? Number(limit) : undefined }) });
  },
  // the asciicast itself, as text: `wicket edge recording export <id> > x.cast`
  "GET recordings/:": async (_req, ctx, arg) => {
    const rec = await getRecording(ctx.store, arg);
    if (!rec) throw new HttpError(404, `there is no recording "${arg}"; see "wicket edge recording list"`);
    return castResponse(ctx.store, rec.id, "text/plain; charset=utf-8");
  },
  "GET audit": async (_req, ctx, _arg, _who, url) => json(200, { records: await queryAudit(ctx.store, auditQuery(url)) }),

  // Every node's sessions: this node asks the others (scope=node) with the caller's token.
  "GET sessions": async (req, ctx, _arg, _who, url) => {
    const node = ctx.node?.();
    const own = (ctx.sessions?.list() ?? []).map((s) => ({ ...s, node: node?.id }));
    if (!node || url.searchParams.get("scope") === "node") return json(200, { sessions: own });
    const token = /^Bearer\s+(\S+)/i.exec(req.headers.get("authorization") ?? "")![1]!;
    return json(200, await clusterSessions(ctx.store, node, own, { token, caPem: ctx.caPem, servername: new URL(ctx.publicUrl).hostname.replace(/^\[|\]$/g, "") }));
  },
  "DELETE sessions/:": async (_req, ctx, arg, who) => {
    const reason = `session ${arg} was revoked by an admin`;
    const s = ctx.sessions?.get(arg);
    if (s) {
      ctx.sessions!.cut(s.id, reason);
      await record(ctx, who, "session.revoke", `revoked session ${s.id} of ${s.identity} to ${s.host} from ${s.ip}`, { target: s.id, sessionId: s.id, host: s.host });
      return json(200, { session: s, elsewhere: false });
    }
    // Not here: another node of the cluster may hold it. The audit knows every session let in
    // and not ended; the node holding it cuts it once it sees the revocation in the store.
    const open = await auditedOpenSession(ctx.store, arg);
    if (!open) throw new HttpError(404, `there is no live session "${arg}": not on this edge node, and the audit shows none open by that id; see "wicket edge session list"`);
    await revokeSessionEverywhere(ctx.store, open.id, reason);
    await record(ctx, who, "session.revoke", `revoked session ${open.id} of ${open.identity} to ${open.host} from ${open.ip}, held by another node`, { target: open.id, sessionId: open.id, host: open.host });
    return json(202, { session: { ...open, bytesToOrigin: 0, bytesToClient: 0 }, elsewhere: true });
  },

  // ACME certificates (issue 19): what is held, and a renewal now.
  "GET certs": async (_req, ctx) => json(200, { certs: (await listAcmeCertificates(ctx.store)).map(certInfo), acme: Boolean(ctx.acme?.()) }),
  "POST certs/:": async (_req, ctx, name, who) => {
    const acme = ctx.acme?.();
    if (!acme) throw new HttpError(409, "this edge does not get its certificates from ACME; run it with --tls acme");
    const cert = certInfo(await acme.renew(name).catch((e: Error) => Promise.reject(new HttpError(409, e.message))));
    await record(ctx, who, "cert.renew", cert.lastError ? `asked to renew the certificate for ${name}, which failed: ${cert.lastError}` : `renewed the certificate for ${name}`, { target: name });
    return json(cert.lastError ? 502 : 200, cert.lastError ? { error: `the certificate for ${name} could not be renewed: ${cert.lastError}`, cert } : { cert });
  },

  "GET nodes": async (_req, ctx) => json(200, { nodes: await listNodes(ctx.store, ctx.node?.()?.freshMs ?? DEFAULT_KEEPALIVE.timeoutMs), registry: ctx.store.adapter === "postgres" }),

  "GET signing-keys": async (_req, ctx) => {
    const keys = await allSigningKeys(ctx.store);
    const current = keys.find((k) => k.retiredAt === undefined)?.kid;
    return json(200, { keys: keys.map((k) => ({ kid: k.kid, alg: k.alg, createdAt: k.createdAt, retiredAt: k.retiredAt, current: k.kid === current })) });
  },
  "POST signing-keys": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    if (b.retireOld !== undefined && typeof b.retireOld !== "boolean") throw new HttpError(400, `"retireOld" must be true or false`);
    const kid = await rotateSigningKey(ctx.store);
    const retired = b.retireOld ? await retireSigningKeysExcept(ctx.store, kid) : [];
    if (retired.length) await reloadSigningKeys(ctx.store);
    await record(ctx, who, "signing-key.rotate", `app tokens are signed with the new key ${kid}${retired.length ? `; retired ${retired.join(", ")}, whose tokens are refused from now on` : ""}`, { target: kid });
    return json(201, { kid, retired, sessionsClosed: retired.length ? await recheck(ctx) : 0 });
  },

  "GET user-revocations": async (_req, ctx) => json(200, { revocations: await listUserRevocations(ctx.store) }),
  "POST user-revocations": async (req, ctx, _arg, who) => {
    const revocation = await revokeUser(ctx.store, field(await readBody(req), "email"), who.name);
    const cut = ctx.sessions?.cutUser(revocation.email, `the sign-in of ${revocation.email} was revoked by an admin`) ?? [];
    const revoked = await revokeZoneCredentialsOf(ctx.store, revocation.email);
    await record(ctx, who, "user.revoke", `revoked the sign-in of ${revocation.email}, closing ${cut.length} live session${cut.length === 1 ? "" : "s"}${revokedWhat(revoked)}`, {
      target: revocation.email,
      email: revocation.email,
    });
    return json(200, { revocation, sessionsClosed: cut.length });
  },

  "GET tunnel-certs": async (_req, ctx) => json(200, { credentials: await listZoneCredentials(ctx.store) }),
  "DELETE tunnel-certs/:": async (_req, ctx, arg, who) => {
    const credential = await revokeZoneCredential(ctx.store, arg);
    await record(ctx, who, "tunnel-cert.revoke", `revoked zone credential ${credential.id} of ${credential.zone}${credential.obtainedBy ? ` (obtained by ${credential.obtainedBy})` : ""}; its connectors are cut`, { target: credential.id });
    return json(200, { credential });
  },
  "GET tunnels": async (_req, ctx) => {
    const live = ctx.connectors?.all() ?? [];
    const tunnels = (await listTunnels(ctx.store)).map((t) => ({ ...t, connections: live.filter((c) => c.tunnel.id === t.id).length }));
    return json(200, { tunnels });
  },
  "DELETE tunnels/:": async (_req, ctx, arg, who) => {
    const tunnel = await deleteTunnel(ctx.store, arg);
    await record(ctx, who, "tunnel.delete", `deleted tunnel ${tunnel.name} (${tunnel.id}) of ${tunnel.zone}${tunnel.routes.length ? `, unrouting ${tunnel.routes.join(", ")}` : ""}; its connectors are cut`, { target: tunnel.id });
    return json(200, { tunnel });
  },
  "POST tunnel-certs": async (req, ctx, _arg, who) => {
    const { id, zone, secret } = await createZoneCredential(ctx.store, field(await readBody(req), "zone"), { obtainedBy: `admin:${who.name}`, lifetimeMs: ctx.credentialLifetimeMs });
    await record(ctx, who, "tunnel-cert.create", `issued zone credential ${id} for ${zone}`, { target: id });
    const credential = formatZoneCredential({ edge: ctx.publicUrl, zone, id, secret, caPem: ctx.caPem });
    return json(201, { id, zone, credential });
  },
};

/** Routes a zone credential may call: the named tunnels of its own zone (`wicket tunnel
 * create|route|list|delete`). What they do is audited under the credential's name. */
type ZoneRoute = (req: Request, ctx: AdminContext, arg: string, cred: ZoneCredential) => Promise<Response>;
const zoneRoutes: Record<string, ZoneRoute> = {
  "GET zone-tunnels": async (_req, ctx, _arg, cred) => {
    const live = ctx.connectors?.all() ?? [];
    return json(200, { tunnels: (await listTunnels(ctx.store, cred.zone)).map((t) => ({ ...t, connections: live.filter((c) => c.tunnel.id === t.id).length })) });
  },
  "POST zone-tunnels": async (req, ctx, _arg, cred) => {
    const { tunnel, secret } = await createTunnel(ctx.store, cred.zone, field(await readBody(req), "name"), credentialOwner(cred));
    await recordZone(ctx, cred, "tunnel.create", `created tunnel ${tunnel.name} (${tunnel.id}) in ${tunnel.zone}`, tunnel.id);
    return json(201, { tunnel, secret, edge: ctx.publicUrl, caPem: ctx.caPem });
  },
  "DELETE zone-tunnels/:": async (_req, ctx, arg, cred) => {
    const found = await getTunnel(ctx.store, arg, cred.zone);
    if (!found) throw new HttpError(404, `there is no tunnel "${arg}" in the zone ${cred.zone}; see "wicket tunnel list"`);
    ownTunnel(found, cred);
    // by the id just checked: a tunnel another owner makes under this name meanwhile is not it
    const tunnel = await deleteTunnel(ctx.store, found.id);
    await recordZone(ctx, cred, "tunnel.delete", `deleted tunnel ${tunnel.name} (${tunnel.id})${tunnel.routes.length ? `, unrouting ${tunnel.routes.join(", ")}` : ""}; its connectors are cut`, tunnel.id);
    return json(200, { tunnel });
  },
  "PUT zone-routes/:": async (req, ctx, arg, cred) => {
    const body = await readBody(req);
    const tunnel = await getTunnel(ctx.store, field(body, "tunnel"), cred.zone);
    if (!tunnel) throw new HttpError(404, `there is no tunnel "${body.tunnel}" in the zone ${cred.zone}; see "wicket tunnel list"`);
    ownTunnel(tunnel, cred);
    const r = await routeHostname(ctx.store, tunnel, arg, { overwrite: body.overwrite === true, owner: credentialOwner(cred) });
    const what = r.replaced ? `took ${r.hostname} over from tunnel ${r.replaced.name} (${r.replaced.id}) for` : `routed ${r.hostname} to`;
    await recordZone(ctx, cred, r.replaced ? "tunnel.route-overwrite" : "tunnel.route", `${what} tunnel ${tunnel.name} (${tunnel.id})`, r.hostname);
    return json(200, { route: r });
  },
};

/** A credential manages its owner's tunnels only; an admin manages any (`wicket edge tunnel rm`). */
function ownTunnel(tunnel: { name: string; createdBy: string }, cred: ZoneCredential) {
  const owner = credentialOwner(cred);
  if (tunnel.createdBy !== owner) throw new HttpError(403, `the tunnel "${tunnel.name}" belongs to ${tunnel.createdBy}, not to ${owner}; ask them, or an admin (wicket edge tunnel rm)`);
}

async function recordZone(ctx: AdminContext, cred: ZoneCredential, action: string, reason: string, target: string) {
  const who = `zone credential ${cred.id}${cred.obtainedBy ? ` of ${cred.obtainedBy}` : ""}`;
  log.info(`${who}: ${reason}`);
  await writeAudit(ctx.store, { kind: "admin", actor: who, identity: who, action, reason, target }).catch((e) => log.error(`audit: cannot record "${reason}": ${(e as Error).message}`));
}

/** Answers a request whose path starts with /api/v1/. */
export async function handleAdmin(req: Request, ctx: AdminContext): Promise<Response> {
  const url = new URL(req.url);
  const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  const who = auth ? await verifyAdminToken(ctx.store, auth[1]!) : undefined;
  if (!who && auth && /^\/api\/v1\/zone-(tunnels|routes)(\/|$)/.test(url.pathname)) return handleZone(req, url, ctx, auth[1]!);
  if (!who) {
    return json(401, { error: "the admin token is missing or was refused; send Authorization: Bearer <admin token>" }, { "www-authenticate": 'Bearer realm="wicket admin"' });
  }
  if (!url.pathname.startsWith(ADMIN_API_PREFIX)) return json(404, { error: `there is no admin API at ${url.pathname}; it lives under ${ADMIN_API_PREFIX}` });

  const segments = url.pathname.slice(ADMIN_API_PREFIX.length).replace(/\/+$/, "").split("/");
  if (segments.length > 2) return json(404, { error: `there is no admin API route ${req.method} ${url.pathname}` });
  let arg = "";
  try {
    arg = segments[1] === undefined ? "" : decodeURIComponent(segments[1]);
  } catch {
    return json(400, { error: `the path ${url.pathname} is not properly encoded` });
  }
  const route = routes[`${req.method} ${segments[0]}${segments.length === 2 ? "/:" : ""}`];
  if (!route) return json(404, { error: `there is no admin API route ${req.method} ${url.pathname}` });
  return answer(req, url, () => route(req, ctx, arg, who, url));
}

/** The zone-credential routes: a credential that is not live gets 401 with the reason. */
async function handleZone(req: Request, url: URL, ctx: AdminContext, bearer: string): Promise<Response> {
  const m = /^([^.\s]+)\.(\S+)$/.exec(bearer);
  const r = m ? await verifyZoneCredential(ctx.store, m[1]!, m[2]!) : undefined;
  if (!r || "refused" in r) return json(401, { error: r?.refused ?? "the zone credential was refused; run `wicket tunnel login`" });
  const [name, raw] = url.pathname.slice(ADMIN_API_PREFIX.length).replace(/\/+$/, "").split("/");
  const route = zoneRoutes[`${req.method} ${name}${raw !== undefined ? "/:" : ""}`];
  if (!route) return json(404, { error: `there is no route ${req.method} ${url.pathname}` });
  let arg = "";
  try {
    arg = raw === undefined ? "" : decodeURIComponent(raw);
  } catch {
    return json(400, { error: `the path ${url.pathname} is not properly encoded` });
  }
  return answer(req, url, () => route(req, ctx, arg, r.credential));
}

/** Runs a route; store and usage errors become their status, anything else a logged 500. */
async function answer(req: Request, url: URL, run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof StoreError) return json(STATUS[e.kind], { error: e.message });
    if (e instanceof HttpError) return json(e.status, { error: e.message });
    // Other user errors (a bad rule string, say) are the caller's to fix.
    if (e instanceof WicketError && e.exitCode === EXIT.usage) return json(400, { error: e.message });
    log.error(`admin API ${req.method} ${url.pathname} failed: ${(e as Error)?.message ?? e}`);
    log.debug((e as Error)?.stack ?? "");
    return json(500, { error: "the edge failed to handle this request; see its log" });
  }
}

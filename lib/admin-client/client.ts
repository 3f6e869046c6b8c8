// The client side of the admin API: where the edge is and how to authenticate (from flags,
// WICKET_* variables or the edge's data directory), one function per route, and HTTP and
// network failures mapped to one sentence and an exit code.
// lib/admin-client/ is the CLI's client of the admin API (lib/edge/admin/api.ts is the API)
// and its printer (output.ts); the edge uses it too, to ask the other nodes of a cluster. It
// is not under lib/cli/, which is the toolkit every layer loads, the edge included.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromEnv } from "../cli/args.ts";
import { ADMIN_TOKEN_FILE, CA_FILE, PUBLIC_URL_FILE } from "../paths.ts";
import { configError, deniedError, usageError } from "../cli/exit.ts";
import { httpClient, requestError, type Peer, type Refusal } from "../cli/http.ts";
import { adminLoginPath, endedSentence, freshAdminLogin, hasEnded, savedAdminLogin, type AdminLogin } from "./login.ts";
import type { Decision, Rule, Subject } from "../policy/evaluate.ts";
// Types only, never the store itself: the admin API answers with the store's records as they are.
import type { AcmeCertificate, App, Recording, AuditQuery, AuditRecord, EdgeNode, RouteResult, ServiceToken, StoredPolicy, Tunnel, UserRevocation, Zone, ZoneCredential } from "../store/index.ts";
import type { LiveSessionInfo } from "../wire/live-session.ts";
import { PEER_SESSIONS_PATH } from "../wire/http.ts";

export type AdminConnection = {
  /** The edge's base URL, e.g. https://edge.example.com:8443 */
  baseUrl: string;
  token: string;
  /** Extra CA certificate(s) to trust, PEM. */
  ca?: string;
  /** Where the CA came from, for error messages. */
  caFile?: string;
  /** `zone`: the token is a zone credential (`wicket tunnel create|route|list|delete`), not an admin token. */
  credential?: "zone";
  /** The edge's own name, when `baseUrl` names one node of a cluster by its address: the TLS name and Host sent. */
  servername?: string;
  /** Gives up on the request when it fires. */
  signal?: AbortSignal;
  /** `token` is this `wicket edge login` session's: refreshed before a request when close to its end. */
  login?: AdminLogin;
};

export type AdminConnectionArgs = {
  edge?: unknown;
  "ca-file"?: unknown;
  "admin-token"?: unknown;
  "data-dir"?: unknown;
};

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (e) {
    throw configError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Where and how to reach the admin API: the edge from --edge / WICKET_EDGE, else
 * `<data-dir>/public-url`; the token from --admin-token / WICKET_ADMIN_TOKEN, else
 * `<data-dir>/admin-token`; a CA from --ca-file / WICKET_CA_FILE, else `<data-dir>/ca.pem`.
 */
export function resolveAdminConnection(args: AdminConnectionArgs): AdminConnection {
  const dataDir = fromEnv(args["data-dir"], "data-dir");
  const at = (name: string) => (dataDir ? join(dataDir, name) : undefined);

  let baseUrl = fromEnv(args.edge, "edge");
  if (!baseUrl && at(PUBLIC_URL_FILE) && existsSync(at(PUBLIC_URL_FILE)!)) baseUrl = readText(at(PUBLIC_URL_FILE)!, "edge URL file");
  // `wicket edge login`'s session, where no token is given: a token given wins
  const given = fromEnv(args["admin-token"], "admin-token") ?? (at(ADMIN_TOKEN_FILE) && existsSync(at(ADMIN_TOKEN_FILE)!) ? "file" : undefined);
  const login = given ? undefined : savedAdminLogin();
  const loggedIn = login && (!baseUrl || sameEdge(baseUrl, login.edge)) ? login : undefined;
  if (loggedIn && hasEnded(loggedIn)) throw deniedError(endedSentence(loggedIn.edge));
  baseUrl ??= loggedIn?.edge;
  if (!baseUrl) {
    throw usageError(dataDir ? `no edge URL in ${at(PUBLIC_URL_FILE)} (has the edge started?); pass --edge URL` : "no edge to talk to; pass --edge URL (or set WICKET_EDGE) or the edge's --data-dir");
  }
  if (!/^https?:\/\//i.test(baseUrl)) baseUrl = `https://${baseUrl}`;
  try {
    new URL(baseUrl);
  } catch {
    throw usageError(`"${baseUrl}" is not a valid edge URL; pass --edge https://host[:port]`);
  }

  let token = fromEnv(args["admin-token"], "admin-token");
  if (!token && at(ADMIN_TOKEN_FILE) && existsSync(at(ADMIN_TOKEN_FILE)!)) token = readText(at(ADMIN_TOKEN_FILE)!, "admin token file");
  if (!token && loggedIn) token = loggedIn.token;
  const viaLogin = loggedIn && token === loggedIn.token ? loggedIn : undefined;
  if (!token) throw usageError("no admin token; run wicket edge login, or pass --admin-token (or set WICKET_ADMIN_TOKEN) or the edge's --data-dir");

  let caFile = fromEnv(args["ca-file"], "ca-file");
  if (!caFile && at(CA_FILE) && existsSync(at(CA_FILE)!)) caFile = at(CA_FILE);
  const conn: AdminConnection = { baseUrl: baseUrl.replace(/\/+$/, ""), token, login: viaLogin };
  if (caFile) {
    conn.ca = readText(caFile, "CA file");
    conn.caFile = caFile;
  } else if (viaLogin?.ca) {
    conn.ca = viaLogin.ca;
    conn.caFile = adminLoginPath();
  }
  return conn;
}

const sameEdge = (a: string, b: string) => {
  const origin = (u: string) => URL.parse(/^https?:\/\//i.test(u) ? u : `https://${u}`)?.origin ?? u;
  return origin(a) === origin(b);
};

/** The edge as failures name it; its own CA is in <data-dir>/ca.pem. */
const peer = (conn: AdminConnection): Peer => ({ where: `the edge at ${conn.baseUrl}`, ca: conn.ca, caFile: conn.caFile, servername: conn.servername, caHint: "for a self-signed edge: <data-dir>/ca.pem" });

const refusal = (method: string, path: string, conn: AdminConnection): Refusal => ({
  sentence: (said, status, statusText) => {
    const credential = conn.credential;
    if (status === 401 && conn.login) return endedSentence(conn.login.edge);
    if ((status === 401 || status === 403) && credential === "zone") return `the edge refused the zone credential: ${said ?? "run `wicket tunnel login` again"}`;
    if (status === 403 && said) return said; // signed in, but not allowed: the edge says what they administer
    if (status === 401 || status === 403) return "the admin token was refused; pass --admin-token or --data-dir";
    const sentence = said ?? `${status} ${statusText}`.trim();
    return status < 500 ? sentence : `the edge failed on ${method} ${path}: ${sentence}`;
  },
});

/** One admin API call; `path` is relative to /api/v1/. `stream`: the body as it arrives, not parsed. */
export async function adminRequest<T>(
  conn: AdminConnection,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  path: string,
  body?: unknown,
  query?: Record<string, string | undefined>,
  responseType?: "stream",
): Promise<T> {
  if (conn.login) {
    conn.login = await freshAdminLogin(conn.login, conn.ca);
    conn.token = conn.login.token;
  }
  const edge = peer(conn);
  const url = `${conn.baseUrl}/api/v1/${path}`;
  const options = {
    method,
    body: body as Record<string, unknown> | undefined,
    query: query && Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined)),
    headers: { authorization: `Bearer ${conn.token}`, accept: "application/json", ...(conn.servername ? { host: conn.servername } : {}) },
    signal: conn.signal,
    // A kept-alive connection can be closed by the edge just as a request goes out (it
    // does so when it re-binds for a new zone's certificate): reads are safe to retry.
    // ofetch reports a network error as status 500.
    retry: method === "GET" ? 1 : 0,
    retryStatusCodes: [500, 502, 503],
  };
  try {
    if (responseType) return (await httpClient(edge)(url, { ...options, responseType })) as T;
    return await httpClient(edge)<T>(url, options);
  } catch (e) {
    throw requestError(e, edge, refusal(method, `/api/v1/${path}`, conn));
  }
}

const seg = encodeURIComponent;

export type ZoneWithAdmins = Zone & { admins?: string[] };
export const getZones = async (c: AdminConnection) => (await adminRequest<{ zones: ZoneWithAdmins[] }>(c, "GET", "zones")).zones;
export const postZone = async (c: AdminConnection, name: string, admins: string[] = []) => (await adminRequest<{ zone: ZoneWithAdmins }>(c, "POST", "zones", admins.length ? { name, admins } : { name })).zone;
/** Adds and removes the people who may connect servers to a zone with `tunnel login`. */
export const patchZone = async (c: AdminConnection, name: string, changes: { addAdmins?: string[]; removeAdmins?: string[] }) =>
  (await adminRequest<{ zone: ZoneWithAdmins }>(c, "PATCH", `zones/${seg(name)}`, changes)).zone;
export const deleteZone = async (c: AdminConnection, name: string) => (await adminRequest<{ zone: Zone }>(c, "DELETE", `zones/${seg(name)}`)).zone;

/** An application as the admin API shows it: with the principal its SSH certificates name. */
/** `hostKey`: the server's key pinned for SSH in the browser; `refusedHostKey`: a different one it offered since. */
export type AppInfo = App & { sshPrincipal: string; browserSsh?: boolean; record?: boolean; recordInput?: boolean; recordingLimit?: number | null; hostKey?: string | null; refusedHostKey?: string | null };
/** What the application's SSH certificates may name and permit: `sshExtensions` from agent, x11 and user-rc (`[]`: a terminal and port forwarding only). */
export type SshCertSettings = { allowSystemPrincipals?: boolean; sshExtensions?: string[] };
/** SSH in the browser and its recordings, as `app add|edit` set them (`recordingLimit` in bytes, null: the default). */
export type BrowserSshSettings = { browserSsh?: boolean; record?: boolean; recordInput?: boolean; recordingLimit?: number | null; acceptHostKey?: boolean };
export const getApps = async (c: AdminConnection, zone?: string) => (await adminRequest<{ apps: AppInfo[] }>(c, "GET", "apps", undefined, { zone })).apps;
export const postApp = async (c: AdminConnection, hostname: string, extra: { sessionLengthMs?: number; resumeGraceMs?: number; sshPrincipal?: string } & SshCertSettings & BrowserSshSettings = {}) =>
  (await adminRequest<{ app: AppInfo }>(c, "POST", "apps", { hostname, ...extra })).app;
/** `sessionLengthMs: null` and `resumeGraceMs: null` go back to the edge's defaults. */
export const patchApp = async (c: AdminConnection, hostname: string, changes: { sessionLengthMs?: number | null; resumeGraceMs?: number | null; sshPrincipal?: string } & SshCertSettings & BrowserSshSettings) =>
  (await adminRequest<{ app: AppInfo }>(c, "PATCH", `apps/${seg(hostname)}`, changes)).app;
export const deleteApp = async (c: AdminConnection, hostname: string) => (await adminRequest<{ app: App }>(c, "DELETE", `apps/${seg(hostname)}`)).app;
export const getRecordings = async (c: AdminConnection, q: { user?: string; host?: string; limit?: string } = {}) => (await adminRequest<{ recordings: Recording[] }>(c, "GET", "recordings", undefined, q)).recordings;
/** A recording's asciicast v2 text, as it arrives. */
export const getRecordingCast = (c: AdminConnection, id: string) => adminRequest<ReadableStream<Uint8Array>>(c, "GET", `recordings/${seg(id)}`, undefined, undefined, "stream");
/** The SSH CA of the application serving `hostname` (its wildcard's for a host it covers), and the retired edge-wide key. */
export type SshCAInfo = { app: string; publicKey: string; retiredEdgeKey: string | null };
export const getSshCA = (c: AdminConnection, hostname: string) => adminRequest<SshCAInfo>(c, "GET", "ssh-ca", undefined, { hostname });

/** A key that signs (current) or signed app tokens, as `signing-key list` shows it. */
export type SigningKeyInfo = { kid: string; alg: string; createdAt: number; retiredAt?: number; current: boolean };
export const getSigningKeys = async (c: AdminConnection) => (await adminRequest<{ keys: SigningKeyInfo[] }>(c, "GET", "signing-keys")).keys;
export const rotateSigningKey = (c: AdminConnection, retireOld: boolean) => adminRequest<{ kid: string; retired: string[]; sessionsClosed: number }>(c, "POST", "signing-keys", { retireOld });

export const getTokens = async (c: AdminConnection) => (await adminRequest<{ tokens: ServiceToken[] }>(c, "GET", "tokens")).tokens;
export const postToken = (c: AdminConnection, name: string, extra: { principal?: string } = {}) => adminRequest<ServiceToken & { secret: string }>(c, "POST", "tokens", { name, ...extra });
export const deleteToken = async (c: AdminConnection, idOrName: string) => (await adminRequest<{ token: ServiceToken }>(c, "DELETE", `tokens/${seg(idOrName)}`)).token;
/** Revokes a service token and cuts its live sessions on the edge node answering. */
export const revokeToken = (c: AdminConnection, idOrName: string) => adminRequest<{ token: ServiceToken; sessionsClosed: number }>(c, "DELETE", `tokens/${seg(idOrName)}`);

export type PolicyInput = {
  app: string;
  name: string;
  action: string;
  include: (Rule | string)[];
  exclude?: (Rule | string)[];
  require?: (Rule | string)[];
  position?: number;
};
export const getPolicies = async (c: AdminConnection, app?: string) => (await adminRequest<{ policies: StoredPolicy[] }>(c, "GET", "policies", undefined, { app })).policies;
export const postPolicy = async (c: AdminConnection, p: PolicyInput) => (await adminRequest<{ policy: StoredPolicy }>(c, "POST", "policies", p)).policy;
export const deletePolicy = async (c: AdminConnection, id: string) => (await adminRequest<{ policy: StoredPolicy }>(c, "DELETE", `policies/${seg(id)}`)).policy;
/** Removes a policy; also says how many live sessions that cut on the edge node answering. */
export const removePolicy = (c: AdminConnection, id: string) => adminRequest<{ policy: StoredPolicy; sessionsClosed: number }>(c, "DELETE", `policies/${seg(id)}`);
export type PolicyChangesInput = Partial<Omit<PolicyInput, "app">>;
/** A change to a policy, and how many live sessions it cut on the edge node answering. */
export const patchPolicy = (c: AdminConnection, id: string, changes: PolicyChangesInput) => adminRequest<{ policy: StoredPolicy; sessionsClosed: number }>(c, "PATCH", `policies/${seg(id)}`, changes);

export type PolicyTestInput = { host: string; email?: string; groups?: string[]; ip?: string; token?: string; idp?: string; amr?: string[]; workload?: { issuer: string; claims: Record<string, unknown> } };
export type PolicyTestResult = { host: string; app: string | null; subject: Subject; decision: Decision; message: string };
export const postPolicyTest = (c: AdminConnection, input: PolicyTestInput) => adminRequest<PolicyTestResult>(c, "POST", "policy-test", input);

/** `apart`: each resume as a record of its own, not folded into its session's start (a follow's later polls, which printed the start already). */
export const getAudit = async (c: AdminConnection, q: AuditQuery & { apart?: boolean }) => {
  const query: Record<string, string | undefined> = {
    since: q.since === undefined ? undefined : String(q.since),
    after: q.after,
    user: q.user,
    host: q.host,
    session: q.session,
    denied: q.denied ? "1" : undefined,
    kind: q.kind,
    limit: q.limit === undefined ? undefined : String(q.limit),
    resumptions: q.apart ? "apart" : undefined,
  };
  return (await adminRequest<{ records: AuditRecord[] }>(c, "GET", "audit", undefined, query)).records;
};

/** A live session, with the id of the node that holds it (none on a single SQLite node). */
export type NodeSession = LiveSessionInfo & { node?: string };
/** A live node that did not answer `session list` in time: its sessions are missing from the list. `peerUrl`: to edge admins only. */
export type UnreachableNode = { node: string; peerUrl?: string; error: string };
/** Every node's live sessions; `scope: "node"`, only those of the node answering. `unreachable` only where there are peers to ask. */
export const getSessions = (c: AdminConnection, scope?: "node") =>
  adminRequest<{ sessions: NodeSession[]; unreachable?: UnreachableNode[] }>(c, "GET", "sessions", undefined, { scope });
/** `elsewhere`: another node holds the session; it cuts it within about a second. */
export const deleteSession = (c: AdminConnection, id: string) => adminRequest<{ session: LiveSessionInfo; elsewhere: boolean }>(c, "DELETE", `sessions/${seg(id)}`);

/** A peer node's own live sessions, every zone's: `c.token` is the cluster secret. */
export async function getPeerSessions(c: AdminConnection): Promise<{ sessions: NodeSession[] }> {
  const edge = peer(c);
  try {
    return await httpClient(edge)<{ sessions: NodeSession[] }>(`${c.baseUrl}${PEER_SESSIONS_PATH}`, {
      headers: { authorization: `Bearer ${c.token}`, accept: "application/json", ...(c.servername ? { host: c.servername } : {}) },
      signal: c.signal,
    });
  } catch (e) {
    throw requestError(e, edge, { sentence: (said, status, statusText) => said ?? `${status} ${statusText}`.trim() });
  }
}

/** The cluster's live nodes; `registry: false` on SQLite, where the one node keeps no registry. */
export const getNodes = (c: AdminConnection) => adminRequest<{ nodes: EdgeNode[]; registry: boolean }>(c, "GET", "nodes");

export const postUserRevocation = (c: AdminConnection, email: string) => adminRequest<{ revocation: UserRevocation; sessionsClosed: number }>(c, "POST", "user-revocations", { email });
export const getUserRevocations = async (c: AdminConnection) => (await adminRequest<{ revocations: UserRevocation[] }>(c, "GET", "user-revocations")).revocations;

/** A new zone credential for `zone`, as the text of a cert.pem file. */
export const postTunnelCert = (c: AdminConnection, zone: string) => adminRequest<{ id: string; zone: string; credential: string }>(c, "POST", "tunnel-certs", { zone });

// Zone credentials and tunnels, as admins see them (every zone), and as a zone credential sees
// its own zone's tunnels (`credential: "zone"` connections).
/** A tunnel a zone credential made, as `tunnel-cert list` and `revoke` show it; `disabled`: why it no longer serves. */
export type CredentialTunnel = { id: string; name: string; routes: string[]; disabled?: string };
export type ZoneCredentialInfo = ZoneCredential & { tunnels: CredentialTunnel[] };
export const getTunnelCerts = async (c: AdminConnection) => (await adminRequest<{ credentials: ZoneCredentialInfo[] }>(c, "GET", "tunnel-certs")).credentials;
export const deleteTunnelCert = async (c: AdminConnection, id: string) => (await adminRequest<{ credential: ZoneCredentialInfo }>(c, "DELETE", `tunnel-certs/${seg(id)}`)).credential;
export type TunnelInfo = Tunnel & { connections: number };
export const getAllTunnels = async (c: AdminConnection) => (await adminRequest<{ tunnels: TunnelInfo[] }>(c, "GET", "tunnels")).tunnels;
export const deleteAnyTunnel = async (c: AdminConnection, ref: string) => (await adminRequest<{ tunnel: Tunnel }>(c, "DELETE", `tunnels/${seg(ref)}`)).tunnel;
export const getZoneTunnels = async (c: AdminConnection) => (await adminRequest<{ tunnels: TunnelInfo[] }>(c, "GET", "zone-tunnels")).tunnels;
export const postZoneTunnel = (c: AdminConnection, name: string) => adminRequest<{ tunnel: Tunnel; secret: string; edge: string; caPem?: string }>(c, "POST", "zone-tunnels", { name });
/** `tunnel token --rotate`: a new secret for the tunnel, the old one refused from now on. */
export const postZoneTunnelSecret = (c: AdminConnection, ref: string) => adminRequest<{ tunnel: Tunnel; secret: string; edge: string; caPem?: string }>(c, "POST", `zone-tunnel-secrets/${seg(ref)}`, {});
export const deleteZoneTunnel = async (c: AdminConnection, ref: string) => (await adminRequest<{ tunnel: Tunnel }>(c, "DELETE", `zone-tunnels/${seg(ref)}`)).tunnel;
export const putZoneRoute = async (c: AdminConnection, hostname: string, tunnel: string, overwrite: boolean) =>
  (await adminRequest<{ route: RouteResult }>(c, "PUT", `zone-routes/${seg(hostname)}`, { tunnel, overwrite })).route;

/** An ACME certificate as `edge cert list` shows it: no key, no PEM. */
export type CertInfo = Omit<AcmeCertificate, "certPem" | "keyPem">;
export const getCerts = (c: AdminConnection) => adminRequest<{ certs: CertInfo[]; acme: boolean }>(c, "GET", "certs");
export const renewCert = async (c: AdminConnection, name: string) => (await adminRequest<{ cert: CertInfo }>(c, "POST", `certs/${seg(name)}`, {})).cert;

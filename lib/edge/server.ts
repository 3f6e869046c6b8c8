// The edge: one HTTPS listener routed by Host (lib/edge/http/routes.ts). The edge's own host serves
// health, the admin API and the connector endpoint; every other host is an application whose
// WebSocket upgrades become streams to the connector that serves it. startEdge opens the
// store, builds the rooms below and wires them; each room is a module of its own.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PUBLIC_URL_FILE } from "../paths.ts";
import { pinMailer } from "../auth/otp.ts";
import { reloadSigningKeys } from "../auth/jwt.ts";
import { configError } from "../cli/exit.ts";
import { log } from "../cli/log.ts";
import { parseHostPort } from "../cli/values.ts";
import { unbracket } from "../net/address.ts";
import { processMetrics } from "../metrics/registry.ts";
import { serveMetrics, type MetricsServer } from "../metrics/server.ts";
import { ensureBootstrapAdminToken, openStore, type Store } from "../store/index.ts";
import { adminMailbox, adminRefusal, type EdgeAdmins } from "./admin/people.ts";
import { loadOrCreateCA } from "../tls/ca.ts";
import { DEFAULT_KEEPALIVE, type Mux } from "../wire/mux.ts";
import { ACCESS_POLL_MS, watchAccess } from "./decisions/access-watch.ts";
import { parseTrustedProxies } from "./http/client-ip.ts";
import { queuedForClients, type ClientRoom, type ClientSocket } from "./streams/client-stream.ts";
import { moveResumable } from "./streams/client-resume.ts";
import { identitySettings, type IdentitySettings } from "./config/file.ts";
import { recheckConnectors, type ConnectorRoom } from "./streams/connector-endpoint.ts";
import { createConnectors, type Connectors } from "./streams/connectors.ts";
import { CONNECTOR_LIMITS, type ConnectorLimits } from "./streams/connector-limits.ts";
import { checkDownloadsDir } from "./http/downloads.ts";
import { createChanges } from "../async.ts";
import { drainConnections } from "./streams/drain.ts";
import { createKeepalive } from "./streams/keepalive.ts";
import { listen, type Listener, type TlsMode } from "./http/listener.ts";
import { startAcme, type Acme } from "./http/acme.ts";
import { createLiveSessions, type LiveSessions } from "./decisions/live-sessions.ts";
import { createEdgeMetrics, refreshGauges, type EdgeMetrics } from "./runtime/metrics.ts";
import { createRouter, type WsData } from "./http/routes.ts";
import { createLoad, loadReport, type Load } from "./http/load.ts";
import { joinCluster, ownUrl, type Cluster } from "./cluster/membership.ts";
import { keepRecords } from "./runtime/retention.ts";
import type { PeerRoom } from "./streams/peer-endpoint.ts";
import { socketHandlers } from "./streams/sockets.ts";
import { ResetCode } from "../wire/frame.ts";
import { randomId } from "../auth/secret.ts";
import { DEFAULT_TERMINAL_IDLE_MS, type TerminalRoom } from "./terminal/ssh.ts";
import { DEFAULT_ZONE_RECORDING_LIMIT } from "./terminal/recorder.ts";

export interface EdgeOptions {
  /** HOST:PORT; port 0 picks a free one. */
  listen: string;
  publicUrl?: string;
  dataDir: string;
  database?: string;
  tls: TlsMode;
  /** Pings to connectors and clients, and how long a silent one may stay. */
  keepalive?: { intervalMs: number; timeoutMs: number };
  /** HOST:PORT of a separate plain-HTTP listener for /metrics, /ready and /healthz. */
  metrics?: string;
  version?: string;
  /** Sign-in: identity providers, SMTP, session lengths (lib/edge/config/file.ts). */
  identity?: IdentitySettings;
  /** What /install.sh installs from: the output of `bun run build --all`. */
  downloadsDir?: string;
  /** Proxies (IP addresses or CIDR ranges) whose X-Forwarded-For names the client; nobody else's is believed. */
  trustedProxies?: readonly string[];
  /** Let allowed clients through when their decision cannot be written to the audit (default: refuse them). */
  auditFailOpen?: boolean;
  /** How long audit records are kept (ms); 0 keeps them forever. Default 90 days. */
  auditRetentionMs?: number;
  /** How long recordings of browser terminal sessions are kept (ms); 0 keeps them forever. Default 30 days. */
  recordingRetentionMs?: number;
  /** Where peer nodes reach this one (PostgreSQL clusters); default its listen address. */
  peerUrl?: string;
  /** How long zone credentials issued from now on last (ms). Default a year. */
  zoneCredentialLifetimeMs?: number;
  /** A browser terminal with no input this long is closed (ms); 0 never. Default 30 minutes. */
  terminalIdleTimeoutMs?: number;
  /** What one tunnel, credential and zone may hold on this node (default CONNECTOR_LIMITS). */
  connectorLimits?: ConnectorLimits;
  /** The bytes the recordings of one zone may take together (default 4 GiB); at it, the zone's recorded sessions end and new ones do not start. */
  zoneRecordingLimit?: number;
  /** Who administers the whole edge as themselves (`admins:`, `--admin`). */
  admins?: EdgeAdmins;
}

export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;
export const DEFAULT_RECORDING_RETENTION_MS = 30 * 86_400_000;

export interface Edge {
  url: string;
  port: number;
  store: Store;
  /** The admin listener's URL, with --metrics. */
  metricsUrl?: string;
  /** Stops accepting, tells connectors to move, lets client streams run up to `graceMs`, closes. */
  stop(graceMs?: number): Promise<void>;
}

export async function startEdge(opts: EdgeOptions): Promise<Edge> {
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  checkDownloadsDir(opts.downloadsDir);
  const store = await openStore(opts.database ? { url: opts.database } : { dataDir: opts.dataDir });
  await ensureBootstrapAdminToken(store, opts.dataDir);
  const address = parseHostPort(opts.listen, "--listen");
  const ca = opts.tls.mode === "self-signed" ? await loadOrCreateCA(opts.dataDir) : undefined;
  const scheme = opts.tls.mode === "off" ? "http" : "https";
  let publicUrl = opts.publicUrl ?? "";
  const hostIn = (url: string) => unbracket(new URL(url).hostname);
  let host = publicUrl ? hostIn(publicUrl) : "localhost";
  const edgeHost = () => host;

  const metrics = createEdgeMetrics();
  processMetrics(metrics.registry, opts.version ?? "dev");
  const connectors = createConnectors();
  const clients = new Set<ClientSocket>();
  const liveSessions = createLiveSessions(store);
  const changes = createChanges();
  let draining = false;
  const changed = () => {
    refreshGauges(metrics, connectors, clients.size);
    changes.notify();
  };
  metrics.registry.gauge("wicket_edge_client_queued_bytes", "Bytes held for clients that read slower than their origin sends (the edge's queues and socket buffers)", () => queuedForClients(clients));
  const keepalive = opts.keepalive ?? DEFAULT_KEEPALIVE;
  const clientRoom: ClientRoom = { connectors, liveSessions, metrics, keepalive: createKeepalive(keepalive), clients, changed, store };
  let cluster: Cluster | undefined;
  let acme: Acme | undefined;
  const connectorRoom: ConnectorRoom = {
    store,
    connectors,
    metrics,
    keepalive,
    draining: () => draining,
    publicUrl: () => publicUrl,
    limits: opts.connectorLimits ?? CONNECTOR_LIMITS,
    changed() {
      changed();
      cluster?.changed();
    },
  };
  const peerRoom: PeerRoom = { connectors, keepalive, links: new Set() };
  const stopPruning = await keepRecords(store, opts.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS, opts.recordingRetentionMs ?? DEFAULT_RECORDING_RETENTION_MS);

  const identity = opts.identity ?? identitySettings({});
  const credentialLifetimeMs = opts.zoneCredentialLifetimeMs;
  const signIn = { store, publicUrl: () => publicUrl, caPem: ca?.certPem, identity, credentialLifetimeMs, namesAdmin: adminMailbox(opts.admins), adminRefusal: adminRefusal(store, opts.admins), mailer: mailerFor(identity, () => publicUrl), metrics };

  const load = createLoad();
  metrics.registry.gauge("wicket_edge_requests_in_progress", "Requests the listener is answering now (bodies still arriving not counted)", () => load.requests.total);
  metrics.registry.gauge("wicket_edge_slow_bodies_waiting", "Requests waiting for their bodies now (those dropped for newer ones: /ready)", () => load.slowBodies.all.size);
  const route = createRouter({
    load,
    store,
    publicUrl: () => publicUrl,
    edgeHost,
    trustedProxies: parseTrustedProxies(opts.trustedProxies),
    signIn,
    admin: { store, caPem: ca?.certPem, credentialLifetimeMs, admins: opts.admins, onZonesChanged: async () => void (await listener.rebind()), sessions: liveSessions, connectors, acme: () => acme, node: () => cluster && { id: cluster.nodeId, freshMs: keepalive.timeoutMs, secret: cluster.secret } },
    downloadsDir: opts.downloadsDir,
    auditFailOpen: opts.auditFailOpen,
    metrics,
    clusterSecret: () => cluster?.secret,
    peerAddress: (peer) => listener.peerAddress(peer),
  });
  // a browser's terminal (SSH in the browser, lib/edge/terminal/ssh.ts)
  const terminalRoom: TerminalRoom = { clients: clientRoom, store, open: 0, idleMs: opts.terminalIdleTimeoutMs ?? DEFAULT_TERMINAL_IDLE_MS, zoneRecordingLimit: opts.zoneRecordingLimit ?? DEFAULT_ZONE_RECORDING_LIMIT };
  const listener = await listen<WsData>({
    hostname: address.hostname,
    port: address.port,
    tls: opts.tls,
    ca,
    store,
    edgeHost,
    fetch: route,
    websocket: socketHandlers({ client: clientRoom, terminal: terminalRoom, connector: connectorRoom, peer: peerRoom }),
    alpnChallenge: async (name) => acme?.alpnChallenge(name),
  }).catch((err) => {
    throw configError(`cannot listen on ${opts.listen}: ${(err as Error).message}`);
  });
  if (!publicUrl) {
    publicUrl = ownUrl(scheme, address.hostname === "0.0.0.0" || address.hostname === "::" ? "127.0.0.1" : address.hostname, listener.port);
    host = hostIn(publicUrl);
  }
  await writeFile(join(opts.dataDir, PUBLIC_URL_FILE), publicUrl + "\n");
  if (opts.tls.mode === "acme") acme = await startAcme({ store, settings: opts.tls.acme, metrics, edgeHost, publicUrl: () => publicUrl });

  // Several nodes on one PostgreSQL store: a client may arrive where its connector is not.
  if (store.adapter === "postgres") {
    cluster = await joinAsNode({ store, keepalive, connectors, servername: edgeHost(), caPem: ca?.certPem, version: opts.version ?? "dev", peerUrl: opts.peerUrl ?? ownUrl(scheme, address.hostname, listener.port) });
    clientRoom.peers = cluster;
  }

  const stopWatching = watchAccess(store, ACCESS_POLL_MS, () => afterAccessChange({ store, listener, acme, liveSessions, connectors }));

  log.info(`edge listening on ${scheme}://${address.hostname}:${listener.port} (public URL ${publicUrl})`);
  let admin: MetricsServer | undefined;
  if (opts.metrics) {
    try {
      admin = serveMetrics(opts.metrics, metrics.registry, () => readiness(load, draining, connectors.up(), clients.size));
    } catch (err) {
      listener.stop(true);
      stopWatching();
      await store.close?.();
      throw err;
    }
  }
  const stopping = { metrics, stopPruning, cluster, peerLinks: peerRoom.links, listener, drain: { connectors, clients, changes, changed, moveResumable: () => moveResumable(clients) }, stopWatching, liveSessions, acme, admin, store };
  return {
    url: publicUrl,
    port: listener.port,
    store,
    metricsUrl: admin?.url,
    stop(graceMs = 0) {
      draining = true;
      return stopEdge(stopping, graceMs);
    },
  };
}

/** PINs by mail (or, with --dev and no SMTP, in the log); without either, PIN sign-in cannot work. */
function mailerFor(identity: IdentitySettings, publicUrl: () => string) {
  const mailer = pinMailer(identity.smtp, identity.dev, () => identity.brand?.name ?? new URL(publicUrl()).host);
  if (!mailer && identity.providers.some((p) => p.type === "otp")) log.warn("no SMTP is configured: sign-in by e-mail PIN will not work (configure smtp, or run with --dev to log PINs)");
  return mailer;
}

/** After a change made through any node (this one too): signing keys as the store has them
 * now, certificates for zones added or removed through another node, live sessions and
 * connectors re-checked. */
async function afterAccessChange(e: { store: Store; listener: Listener; acme?: Acme; liveSessions: LiveSessions; connectors: Connectors }) {
  await reloadSigningKeys(e.store).catch((err: Error) => log.warn(`after an access change: ${err.message}`));
  await e.listener.zonesMaybeChanged().catch((err: Error) => log.warn(`after an access change: ${err.message}`));
  void e.acme?.sync(); // an application added or removed: ordered (or forgotten) in the background
  await e.liveSessions.recheck(); // people first: their cut is promised within a second
  await recheckConnectors(e.store, e.connectors);
}

/** This node in the cluster's registry, its peer links dialed on first need. */
async function joinAsNode(o: Omit<Parameters<typeof joinCluster>[0], "nodeId">): Promise<Cluster> {
  const cluster = await joinCluster({ ...o, nodeId: randomId("wnd_") });
  log.info(`cluster: this node is ${cluster.nodeId}; peers reach it at ${o.peerUrl}`);
  if (!o.peerUrl.startsWith("https:")) log.warn("cluster: peer links run over plain HTTP (tls: off): the cluster secret and every forwarded stream cross the network unencrypted; keep the nodes on a private network, or give them TLS");
  return cluster;
}

/** What /ready says: not ready while draining or refusing requests that carry no credential. */
function readiness(load: Load, draining: boolean, connectorConnections: number, streams: number) {
  const { status, ...busy } = loadReport(load);
  return { ready: !draining && status !== "saturated", status: draining ? "draining" : (status ?? "ready"), connectorConnections, streams, ...busy };
}

/** Stops accepting, tells peers and connectors to move, lets client streams run up to
 * `graceMs`, then closes everything, the store last. */
async function stopEdge(
  e: {
    metrics: EdgeMetrics;
    stopPruning(): void;
    cluster?: Cluster;
    peerLinks: Set<Mux>;
    listener: Listener;
    drain: Parameters<typeof drainConnections>[0];
    stopWatching(): unknown;
    liveSessions: LiveSessions;
    acme?: Acme;
    admin?: MetricsServer;
    store: Store;
  },
  graceMs: number,
) {
  e.metrics.draining.set(1);
  e.stopPruning();
  // No new connections: connectors that move must land elsewhere; peers stop sending clients.
  await e.cluster?.leave();
  for (const link of e.peerLinks) link.goAway(ResetCode.goingAway, "node is shutting down");
  e.listener.stop(false);
  await drainConnections(e.drain, graceMs);
  await e.stopWatching();
  await e.liveSessions.closeAll("the edge is shutting down");
  e.cluster?.close();
  e.acme?.stop();
  e.listener.stop(true);
  e.admin?.stop();
  await e.store.close?.();
}

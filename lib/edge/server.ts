// The edge: one HTTPS listener routed by Host. The edge's own host serves health, the admin
// API and the connector endpoint; every other host is an application whose WebSocket
// upgrades become streams to the connector that serves it.
import type { Server, ServerWebSocket } from "bun";
import { mkdir, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { log } from "../cli/log.ts";
import { configError } from "../cli/exit.ts";
import { loadOrCreateCA, issueCert, type CA } from "../tls/ca.ts";
import { Close, closeReason } from "../wire/close.ts";
import { ResetCode, PROTOCOL_VERSION } from "../wire/frame.ts";
import { createSession, DEFAULT_KEEPALIVE, KEEPALIVE_CLOSE, type Session, type Stream } from "../wire/mux.ts";
import { parseHostPort } from "../cli/values.ts";
import { processMetrics } from "../metrics/registry.ts";
import { serveMetrics, type MetricsServer } from "../metrics/server.ts";
import { createEdgeMetrics } from "./metrics.ts";
import { createKeepalive, type Watched } from "./keepalive.ts";
import { createRegistry, type ConnectorConn } from "./connectors.ts";
import { edgeHomePage, sshAppPage, unknownHostPage } from "./pages.ts";
import { handleAdmin } from "./admin.ts";
import { checkDownloadsDir, isDownloadPath, serveDownloads } from "./downloads.ts";
import { openStore, type Store } from "../store/index.ts";
import { ensureBootstrapAdminToken, findApp, listZones, pruneAudit, verifyZoneCredential } from "../store/index.ts";
import { CONNECT_PATH, SSH_CA_PATH, SSH_CERT_PATH } from "../wire/http.ts";
import { handleSshCert } from "./ssh-cert.ts";
import { sshCA } from "../store/index.ts";
import { authorizeClient, type ClientAuth } from "./authorize.ts";
import { identitySettings, type IdentitySettings } from "./config.ts";
import { handleOAuth, METADATA_PATH, metadata, type SignInContext } from "./oauth.ts";
import { handleSignInPages } from "./signin.ts";
import { pinMailer } from "../auth/otp.ts";
import { reloadSigningKeys } from "../auth/jwt.ts";
import { clientIp, parseTrustedProxies } from "./client-ip.ts";
import { createSessionRegistry } from "./sessions.ts";

export interface EdgeOptions {
  /** HOST:PORT; port 0 picks a free one. */
  listen: string;
  publicUrl?: string;
  dataDir: string;
  database?: string;
  tls: { mode: "self-signed" } | { mode: "files"; cert: string; key: string } | { mode: "off" };
  /** Pings to connectors and clients, and how long a silent one may stay. */
  keepalive?: { intervalMs: number; timeoutMs: number };
  /** HOST:PORT of a separate plain-HTTP listener for /metrics, /ready and /healthz. */
  metrics?: string;
  version?: string;
  /** Sign-in: identity providers, SMTP, session lengths (lib/edge/config.ts). */
  identity?: IdentitySettings;
  /** What /install.sh installs from: the output of `bun run build --all`. */
  downloadsDir?: string;
  /** Proxies (IP addresses or CIDR ranges) whose X-Forwarded-For names the client; nobody else's is believed. */
  trustedProxies?: readonly string[];
  /** Let allowed clients through when their decision cannot be written to the audit (default: refuse them). */
  auditFailOpen?: boolean;
  /** How long audit records are kept (ms); 0 keeps them forever. Default 90 days. */
  auditRetentionMs?: number;
}

export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;
/** How often each node looks for access changes made elsewhere (another node, or while a session opened). */
const ACCESS_POLL_MS = 500;

export interface Edge {
  url: string;
  port: number;
  store: Store;
  /** The admin listener's URL, with --metrics. */
  metricsUrl?: string;
  /** Stops accepting, tells connectors to move, lets client streams run up to `graceMs`, closes. */
  stop(graceMs?: number): Promise<void>;
}

/** What waits to go to a client, in order: bytes, then perhaps the half-close and the close. */
type ClientOut = Uint8Array | "fin" | "close";
/** `cut`: the session was cut (a revocation, a re-check), with the close the client gets. */
type ClientData = ClientAuth & { kind: "client"; stream?: Stream; out: ClientOut[]; watch?: Watched; cut?: { code: number; reason: string } };
type ConnectorData = { kind: "connector"; zone?: string; ip: string; reject?: { code: number; reason: string }; conn?: ConnectorConn; session?: Session };
type WsData = ClientData | ConnectorData;

/** How much a WebSocket may hold in its own send buffer before we stop feeding it. */
const SOCKET_BUFFER = 256 * 1024;

const parseListen = (listen: string) => parseHostPort(listen, "--listen");

const hostOf = (req: Request) => (req.headers.get("host") ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();

export async function startEdge(opts: EdgeOptions): Promise<Edge> {
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  checkDownloadsDir(opts.downloadsDir);
  const store = await openStore(opts.database ? { url: opts.database } : { dataDir: opts.dataDir });
  await ensureBootstrapAdminToken(store, opts.dataDir);
  const listen = parseListen(opts.listen);
  const registry = createRegistry();
  const keepalive = opts.keepalive ?? DEFAULT_KEEPALIVE;
  const metrics = createEdgeMetrics();
  processMetrics(metrics.registry, opts.version ?? "dev");
  const clients = new Set<ServerWebSocket<ClientData>>();
  const clientKeepalive = createKeepalive(keepalive);
  let draining = false;
  metrics.registry.gauge("wicket_edge_client_queued_bytes", "Bytes held for clients that read slower than their origin sends (the edge's queues and socket buffers)", () => {
    let n = 0;
    for (const ws of clients) n += ws.getBufferedAmount() + ws.data.out.reduce((sum, b) => sum + (typeof b === "string" ? 0 : b.byteLength), 0);
    return n;
  });
  const refresh = () => {
    const all = registry.all();
    const up = all.filter((c) => !c.session.peerGoingAway).length;
    metrics.connections.set(up, { state: "up" });
    metrics.connections.set(all.length - up, { state: "draining" });
    metrics.connectors.set(new Set(all.map((c) => c.id)).size);
    metrics.streamsOpen.set(clients.size);
  };
  const trusted = parseTrustedProxies(opts.trustedProxies);
  const sessions = createSessionRegistry(store);
  const retention = opts.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
  const prune = async () => {
    try {
      const n = await pruneAudit(store, Date.now() - retention);
      if (n > 0) log.info(`audit: removed ${n} records older than the retention period`);
    } catch (e) {
      log.warn(`audit: pruning failed: ${(e as Error).message}`);
    }
  };
  if (retention > 0) await prune();
  const pruneTimer = retention > 0 ? setInterval(prune, Math.min(retention, 3_600_000)) : undefined;
  pruneTimer?.unref?.();
  const ca: CA | undefined = opts.tls.mode === "self-signed" ? await loadOrCreateCA(opts.dataDir) : undefined;
  const scheme = opts.tls.mode === "off" ? "http" : "https";

  let publicUrl = opts.publicUrl;
  let edgeHost = publicUrl ? new URL(publicUrl).hostname.replace(/^\[|\]$/g, "") : "localhost";
  const isEdgeHost = (host: string) => host === edgeHost || host === "localhost" || isIP(host) !== 0;

  /** The zones the listener has certificates for, to notice zones added through another node. */
  let boundZones = "";
  const zoneKey = (zones: { name: string }[]) => zones.map((z) => z.name).sort().join(" ");

  async function tlsConfig() {
    if (opts.tls.mode === "off") return undefined;
    if (opts.tls.mode === "files") {
      const [cert, key] = await Promise.all([Bun.file(opts.tls.cert).text(), Bun.file(opts.tls.key).text()]).catch((e) => {
        throw configError(`cannot read the TLS certificate or key: ${e.message}`);
      });
      return { cert, key };
    }
    // The edge's own names come first: clients that connect by IP send no SNI and get it.
    const own = [...new Set([edgeHost, "localhost", "127.0.0.1", "::1"])];
    const entries = [{ serverName: edgeHost, ...(await issueCert(ca!, own)) }];
    const zones = await listZones(store);
    boundZones = zoneKey(zones);
    for (const z of zones) {
      entries.push({ serverName: `*.${z.name}`, ...(await issueCert(ca!, [z.name, `*.${z.name}`])) });
      entries.push({ ...entries[entries.length - 1]!, serverName: z.name });
    }
    return entries;
  }

  const identity = opts.identity ?? identitySettings({});
  const signIn: SignInContext = { store, publicUrl: () => publicUrl!, caPem: ca?.certPem, identity, mailer: pinMailer(identity.smtp, identity.dev, () => new URL(publicUrl!).host) };
  if (!signIn.mailer && identity.providers.some((p) => p.type === "otp")) log.warn("no SMTP is configured: sign-in by e-mail PIN will not work (configure smtp, or run with --dev to log PINs)");

  // ---- clients -------------------------------------------------------------------------

  function openClient(ws: ServerWebSocket<ClientData>) {
    const d = ws.data;
    if (d.reject?.code !== Close.unknownHost) metrics.decisions.inc({ decision: d.reject ? "deny" : "allow" });
    if (d.reject) return ws.close(d.reject.code, closeReason(d.reject.reason));
    sessions.start(d, {
      counters: () => ({ toOrigin: d.stream?.bytesOut ?? 0, toClient: d.stream?.bytesIn ?? 0 }),
      close(code, reason) {
        // the connector hears the reason with the reset; the client this code (4403: denied),
        // not the one the stream's own end would give
        d.cut = { code, reason };
        d.stream?.reset(ResetCode.canceled, reason);
        ws.close(code, closeReason(reason));
      },
    });
    const conn = registry.pick(d.host);
    if (!conn) {
      metrics.noConnector.inc();
      const reason = `no connector is online for ${d.host}; start \`wicket tunnel --hostname ${d.host}\` on the server`;
      void sessions.end(d.sessionId, reason);
      return ws.close(Close.noConnector, closeReason(reason));
    }
    const stream = conn.session.open({ host: d.host, client: d.ip, identity: d.identity, session: d.sessionId });
    d.stream = stream;
    clients.add(ws);
    metrics.streams.inc();
    d.watch = {
      ping: () => ws.ping(),
      dead(silentMs) {
        metrics.clientTimeouts.inc();
        log.info(`client ${d.identity} from ${d.ip} for ${d.host} sent nothing for ${(silentMs / 1000).toFixed(1)} s; dropping it and its stream`);
        ws.terminate();
      },
    };
    clientKeepalive.add(d.watch);
    refresh();
    // Tells the client it got through: before this, a close means "not let in" and the client
    // may sign in and retry without having sent a byte.
    ws.send("open");
    // The half-close and a normal close go behind the bytes still queued for the client.
    const later = (item: ClientOut) => {
      if (typeof item !== "string") metrics.bytes.inc({ direction: "to_client" }, item.byteLength);
      d.out.push(item);
      if (d.out.length === 1) flushClient(ws);
    };
    stream.onData = (bytes) => later(bytes);
    stream.onDrain = () => ws.resume();
    stream.onEnd = () => later("fin");
    // the client stays in `clients` (and watched) until its WebSocket closes, queued bytes sent
    stream.onClose = (code, reason) => {
      void sessions.end(d.sessionId, code === ResetCode.normal ? "ended normally" : `the stream was reset: ${reason || `code ${code}`}`);
      if (d.cut) ws.close(d.cut.code, closeReason(d.cut.reason));
      else if (code === ResetCode.normal) later("close");
      else if (code === ResetCode.originUnreachable) ws.close(Close.originUnreachable, reason);
      else if (code === ResetCode.goingAway) ws.close(Close.goingAway, reason || "connector went away");
      else ws.close(Close.internal, reason || "stream reset");
    };
  }

  /** Hands queued bytes to the client's WebSocket while its buffer is small, returning credit
   * for each; the rest waits here (bounded by the stream window) for the next drain. Keeping
   * uWS's own buffer small matters: it is compacted by copying on every partial write. */
  function flushClient(ws: ServerWebSocket<ClientData>) {
    const d = ws.data;
    while (d.out.length > 0 && ws.getBufferedAmount() < SOCKET_BUFFER) {
      const item = d.out.shift()!;
      if (item === "close") return ws.close(Close.normal, "closed");
      if (ws.send(item) === 0) return; // closed: nothing more will go out
      if (item !== "fin") d.stream?.ack(item.byteLength);
    }
  }

  function clientMessage(ws: ServerWebSocket<ClientData>, msg: string | Buffer) {
    const s = ws.data.stream;
    if (!s) return;
    if (ws.data.watch) clientKeepalive.heard(ws.data.watch);
    if (typeof msg === "string") {
      if (msg === "fin") s.end();
      return;
    }
    metrics.bytes.inc({ direction: "to_origin" }, msg.byteLength);
    if (!s.write(msg)) ws.pause();
  }

  // ---- connectors ----------------------------------------------------------------------

  async function authorizeConnector(req: Request, ip: string): Promise<ConnectorData> {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer ([^.\s]+)\.(\S+)$/.exec(auth);
    const cred = m ? await verifyZoneCredential(store, m[1]!, m[2]!) : undefined;
    if (!cred) return { kind: "connector", ip, reject: { code: Close.unauthenticated, reason: "the zone credential was refused; get a new one with `wicket tunnel login` or `wicket edge tunnel-cert`" } };
    return { kind: "connector", ip, zone: cred.zone };
  }

  function openConnector(ws: ServerWebSocket<ConnectorData>) {
    const d = ws.data;
    if (d.reject) return ws.close(d.reject.code, d.reject.reason);
    const session = createSession({
      role: "edge",
      transport: {
        send: (b) => void ws.send(b),
        // one frame in two messages, corked so uWS writes them together when it can: the
        // payload is not copied to join them
        sendParts: (h, p) =>
          void ws.cork(() => {
            ws.send(h);
            ws.send(p);
          }),
        buffered: () => ws.getBufferedAmount(),
        // a stalled connector would never finish a close handshake
        close: (c, r) => (c === KEEPALIVE_CLOSE ? ws.terminate() : ws.close(c, r)),
      },
      highWater: SOCKET_BUFFER,
      pingIntervalMs: keepalive.intervalMs,
      deadAfterMs: keepalive.timeoutMs,
      onHello(version, meta) {
        if (draining) return ws.close(Close.goingAway, "this edge is shutting down; connect to another node");
        if (version !== PROTOCOL_VERSION) return ws.close(Close.versionMismatch, `this edge speaks protocol ${PROTOCOL_VERSION}, the connector ${version}; upgrade the older one`);
        const hostnames = Array.isArray(meta.hostnames) ? meta.hostnames.map((h) => String(h).toLowerCase()) : [];
        const outside = hostnames.find((h) => h !== d.zone && !h.endsWith(`.${d.zone}`));
        if (hostnames.length === 0 || outside) {
          return ws.close(Close.denied, outside ? `hostname ${outside} is outside the zone ${d.zone} of this credential` : "the connector claimed no hostname");
        }
        d.conn = { id: String(meta.connector ?? "?"), zone: d.zone!, hostnames, session, remote: d.ip };
        registry.add(d.conn);
        session.hello({ edge: publicUrl }, true);
        refresh();
        log.info(`connector ${d.conn.id} from ${d.ip} serves ${hostnames.join(", ")}`);
      },
      onGoAway(_code, reason) {
        refresh();
        log.info(`connector ${d.conn?.id} is draining (${reason}): no new streams go to this connection; its ${session.streams.size} live stream(s) continue`);
      },
      onClose(reason) {
        if (d.conn) {
          registry.remove(d.conn);
          metrics.disconnects.inc({ reason: reason.startsWith("peer stopped answering") ? "keepalive" : "closed" });
        }
        refresh();
        if (!d.conn) return log.info(`connector connection from ${d.ip} closed before it registered (${reason})`);
        const left = registry.all().filter((c) => c.id === d.conn!.id).length;
        log.info(
          `connector ${d.conn.id} from ${d.ip} disconnected (${reason}); its streams on that connection ended; ${left ? `${left} other connection(s) of it carry new ones` : `it has no other connection here, so ${d.conn.hostnames.join(", ")} wait for it to reconnect`}`,
        );
      },
    });
    d.session = session;
  }

  // ---- routing -------------------------------------------------------------------------

  let server: Server<WsData>;
  const servers = new Set<Server<WsData>>(); // rebind() leaves older listeners serving their connections
  const fetch = async (req: Request, srv: Server<WsData>): Promise<Response | undefined> => {
    const url = new URL(req.url);
    const host = hostOf(req);
    const ip = clientIp(srv.requestIP(req)?.address ?? "", req.headers.get("x-forwarded-for"), trusted);
    const upgrade = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (isEdgeHost(host)) {
      if (url.pathname === "/healthz") return new Response("ok\n");
      if (url.pathname === SSH_CA_PATH) return new Response((await sshCA(store)).publicKey + "\n", { headers: { "content-type": "text/plain" } });
      if (url.pathname.startsWith("/api/")) return handleAdmin(req, { store, publicUrl: publicUrl!, caPem: ca?.certPem, onZonesChanged: rebind, sessions });
      if (url.pathname === CONNECT_PATH && upgrade) {
        if (srv.upgrade(req, { data: await authorizeConnector(req, ip) })) return;
        return new Response("WebSocket upgrade failed\n", { status: 400 });
      }
      if (isDownloadPath(url.pathname)) return serveDownloads(req, url.pathname, { dir: opts.downloadsDir, publicUrl: publicUrl! });
      if (url.pathname === "/") return edgeHomePage();
      const signInResponse = (await handleOAuth(req, url, signIn, ip)) ?? (await handleSignInPages(req, url, signIn, ip));
      if (signInResponse) return signInResponse;
      return new Response("not found\n", { status: 404 });
    }
    if (url.pathname === SSH_CERT_PATH && req.method === "POST") return handleSshCert(req, store, await authorizeClient(store, req, host, ip, { auditFailOpen: opts.auditFailOpen, purpose: "ssh-certificate" }));
    if (upgrade) {
      const data: ClientData = { kind: "client", out: [], ...(await authorizeClient(store, req, host, ip, { auditFailOpen: opts.auditFailOpen })) };
      if (srv.upgrade(req, { data })) return;
      return new Response("WebSocket upgrade failed\n", { status: 400 });
    }
    // A client that knows only the application's hostname finds the edge's sign-in here.
    if (url.pathname === METADATA_PATH) return Response.json(metadata(publicUrl!), { headers: { "cache-control": "no-store" } });
    return (await findApp(store, host)) ? sshAppPage(host) : unknownHostPage(host);
  };

  const websocket = {
    maxPayloadLength: 16 * 1024 * 1024,
    backpressureLimit: 64 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    perMessageDeflate: false,
    // keepalive is ours (mux pings for connectors, createKeepalive for clients)
    idleTimeout: 0,
    sendPings: false,
    open(ws: ServerWebSocket<WsData>) {
      if (ws.data.kind === "client") openClient(ws as ServerWebSocket<ClientData>);
      else openConnector(ws as ServerWebSocket<ConnectorData>);
    },
    message(ws: ServerWebSocket<WsData>, msg: string | Buffer) {
      if (ws.data.kind === "client") clientMessage(ws as ServerWebSocket<ClientData>, msg);
      else if (typeof msg !== "string") ws.data.session?.receive(msg);
    },
    drain(ws: ServerWebSocket<WsData>) {
      const d = ws.data;
      if (d.kind === "connector") d.session?.drained();
      else {
        flushClient(ws as ServerWebSocket<ClientData>);
        // bytes leaving for a slow client show it is alive, though its pongs wait behind them
        if (d.watch) clientKeepalive.heard(d.watch);
      }
    },
    pong(ws: ServerWebSocket<WsData>) {
      if (ws.data.kind === "client" && ws.data.watch) clientKeepalive.heard(ws.data.watch);
    },
    close(ws: ServerWebSocket<WsData>, code: number, reason: string) {
      const d = ws.data;
      if (d.kind === "client") {
        clients.delete(ws as ServerWebSocket<ClientData>);
        if (d.watch) clientKeepalive.remove(d.watch);
        // 1006: the client's process ended without a close frame (ssh hangs up on its
        // ProxyCommand as it exits, so this is also how many sessions end normally).
        const how = code === 1000 || code === 1005 ? "" : code === 1006 ? " (it went away without closing)" : ` (${code}${reason ? ` ${reason}` : ""})`;
        void sessions.end(d.sessionId, `the client disconnected${how}`);
        d.stream?.reset(ResetCode.canceled, "client disconnected");
        refresh();
      } else d.session?.close(`connection closed (${code}${reason ? ` ${reason}` : ""})`);
    },
  };

  const serve = async (port: number) =>
    Bun.serve<WsData>({
      hostname: listen.hostname,
      port,
      reusePort: true,
      tls: await tlsConfig(),
      fetch: fetch as any,
      websocket,
      error(err) {
        log.error(`request failed: ${err.message}`);
        log.debug(err.stack ?? "");
        return new Response("internal error\n", { status: 500 });
      },
    });

  try {
    server = await serve(listen.port);
    servers.add(server);
  } catch (err) {
    throw configError(`cannot listen on ${opts.listen}: ${(err as Error).message}`);
  }
  const port = server.port!;
  if (!publicUrl) {
    const h = listen.hostname === "0.0.0.0" || listen.hostname === "::" ? "127.0.0.1" : listen.hostname;
    publicUrl = `${scheme}://${isIP(h) === 6 ? `[${h}]` : h}:${port}`;
    edgeHost = new URL(publicUrl).hostname.replace(/^\[|\]$/g, "");
  }
  await writeFile(join(opts.dataDir, "public-url"), publicUrl + "\n");

  /** New zones need new certificates: Bun cannot swap them on a live listener, so a new
   * listener takes the port (SO_REUSEPORT) and the old one stops accepting but keeps its
   * connections. One rebind at a time: two at once would both replace the same old listener,
   * and the second's predecessor would go on listening on the shared port with its old
   * certificates. */
  let rebinding: Promise<void> = Promise.resolve();
  function rebind(): Promise<void> {
    if (opts.tls.mode !== "self-signed") return Promise.resolve();
    const next = rebinding.then(async () => {
      const old = server;
      server = await serve(port);
      servers.add(server);
      old.stop(false);
    });
    rebinding = next.catch(() => {});
    return next;
  }
  // A change made through any node (this one too): signing keys as the store has them now,
  // certificates for zones added or removed through another node.
  sessions.watch(ACCESS_POLL_MS, async () => {
    await reloadSigningKeys(store);
    if (opts.tls.mode !== "self-signed") return;
    const now = zoneKey(await listZones(store));
    if (now === boundZones) return;
    await rebind();
    log.info(`the zones in the store changed (now: ${now || "none"}): certificates issued for them`);
  });

  log.info(`edge listening on ${scheme}://${listen.hostname}:${port} (public URL ${publicUrl})`);
  let admin: MetricsServer | undefined;
  if (opts.metrics) {
    try {
      admin = serveMetrics(opts.metrics, metrics.registry, () => {
        const up = registry.all().filter((c) => !c.session.peerGoingAway).length;
        return { ready: !draining, status: draining ? "draining" : "ready", connectorConnections: up, streams: clients.size };
      });
    } catch (err) {
      for (const s of servers) s.stop(true);
      await store.close?.();
      throw err;
    }
  }
  return {
    url: publicUrl,
    port,
    store,
    metricsUrl: admin?.url,
    async stop(graceMs = 0) {
      draining = true;
      metrics.draining.set(1);
      if (pruneTimer) clearInterval(pruneTimer);
      // No new connections (connectors that move must land elsewhere), then go-away to
      // every connector while the client streams they carry run out.
      for (const s of servers) s.stop(false);
      for (const c of registry.all()) c.session.goAway(ResetCode.goingAway, "edge is shutting down");
      refresh();
      // Connectors close a moved connection once its streams are done, so waiting for them
      // also waits for the go-away to have arrived.
      const live = () => clients.size + registry.all().length;
      log.info(`draining: told ${registry.all().length} connector connection(s) to move; ${clients.size} client stream(s) may continue up to ${graceMs / 1000} s; signal again to stop at once`);
      const deadline = Date.now() + graceMs;
      while (live() > 0 && Date.now() < deadline) await Bun.sleep(50);
      if (clients.size > 0) log.warn(`grace period over: closing ${clients.size} client stream(s)`);
      else log.info("drained: every client stream ended and every connector moved; stopping");
      await sessions.closeAll("the edge is shutting down");
      for (const s of servers) s.stop(true);
      admin?.stop();
      await store.close?.();
    },
  };
}

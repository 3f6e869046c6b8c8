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
import { createSession, type Session, type Stream } from "../wire/mux.ts";
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
import { clientIp, parseTrustedProxies } from "./client-ip.ts";
import { createSessionRegistry } from "./sessions.ts";

export interface EdgeOptions {
  /** HOST:PORT; port 0 picks a free one. */
  listen: string;
  publicUrl?: string;
  dataDir: string;
  database?: string;
  tls: { mode: "self-signed" } | { mode: "files"; cert: string; key: string } | { mode: "off" };
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
  stop(): Promise<void>;
}

/** What waits to go to a client, in order: bytes, then perhaps the half-close and the close. */
type ClientOut = Uint8Array | "fin" | "close";
type ClientData = ClientAuth & { kind: "client"; stream?: Stream; out: ClientOut[] };
type ConnectorData = { kind: "connector"; zone?: string; ip: string; reject?: { code: number; reason: string }; conn?: ConnectorConn; session?: Session };
type WsData = ClientData | ConnectorData;

const KEEPALIVE_MS = 5_000;
/** How much a WebSocket may hold in its own send buffer before we stop feeding it. */
const SOCKET_BUFFER = 256 * 1024;
const DEAD_AFTER_MS = 15_000;

function parseListen(listen: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m) throw configError(`--listen "${listen}" is not HOST:PORT; for example 127.0.0.1:8443 or 0.0.0.0:443`);
  return { hostname: m[1] || "0.0.0.0", port: Number(m[2]) };
}

const hostOf = (req: Request) => (req.headers.get("host") ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();

export async function startEdge(opts: EdgeOptions): Promise<Edge> {
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  checkDownloadsDir(opts.downloadsDir);
  const store = await openStore(opts.database ? { url: opts.database } : { dataDir: opts.dataDir });
  await ensureBootstrapAdminToken(store, opts.dataDir);
  const listen = parseListen(opts.listen);
  const registry = createRegistry();
  const trusted = parseTrustedProxies(opts.trustedProxies);
  const sessions = createSessionRegistry(store);
  sessions.watch(ACCESS_POLL_MS);
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
    for (const z of await listZones(store)) {
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
    if (d.reject) return ws.close(d.reject.code, closeReason(d.reject.reason));
    sessions.start(d, {
      counters: () => ({ toOrigin: d.stream?.bytesOut ?? 0, toClient: d.stream?.bytesIn ?? 0 }),
      close(code, reason) {
        d.stream?.reset(ResetCode.canceled, reason);
        ws.close(code, closeReason(reason));
      },
    });
    const conn = registry.pick(d.host);
    if (!conn) {
      const reason = `no connector is online for ${d.host}; start \`wicket tunnel --hostname ${d.host}\` on the server`;
      void sessions.end(d.sessionId, reason);
      return ws.close(Close.noConnector, closeReason(reason));
    }
    const stream = conn.session.open({ host: d.host, client: d.ip, identity: d.identity, session: d.sessionId });
    d.stream = stream;
    // Tells the client it got through: before this, a close means "not let in" and the client
    // may sign in and retry without having sent a byte.
    ws.send("open");
    // The half-close and a normal close go behind the bytes still queued for the client.
    const later = (item: ClientOut) => {
      d.out.push(item);
      if (d.out.length === 1) flushClient(ws);
    };
    stream.onData = (bytes) => later(bytes);
    stream.onDrain = () => ws.resume();
    stream.onEnd = () => later("fin");
    stream.onClose = (code, reason) => {
      void sessions.end(d.sessionId, code === ResetCode.normal ? "ended normally" : `the stream was reset: ${reason || `code ${code}`}`);
      if (code === ResetCode.normal) later("close");
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
    if (typeof msg === "string") {
      if (msg === "fin") s.end();
      return;
    }
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
      transport: { send: (b) => void ws.send(b), buffered: () => ws.getBufferedAmount(), close: (c, r) => ws.close(c, r) },
      highWater: SOCKET_BUFFER,
      pingIntervalMs: KEEPALIVE_MS,
      deadAfterMs: DEAD_AFTER_MS,
      onHello(version, meta) {
        if (version !== PROTOCOL_VERSION) return ws.close(Close.versionMismatch, `this edge speaks protocol ${PROTOCOL_VERSION}, the connector ${version}; upgrade the older one`);
        const hostnames = Array.isArray(meta.hostnames) ? meta.hostnames.map((h) => String(h).toLowerCase()) : [];
        const outside = hostnames.find((h) => h !== d.zone && !h.endsWith(`.${d.zone}`));
        if (hostnames.length === 0 || outside) {
          return ws.close(Close.denied, outside ? `hostname ${outside} is outside the zone ${d.zone} of this credential` : "the connector claimed no hostname");
        }
        d.conn = { id: String(meta.connector ?? "?"), zone: d.zone!, hostnames, session, remote: d.ip };
        registry.add(d.conn);
        session.hello({ edge: publicUrl }, true);
        log.info(`connector ${d.conn.id} from ${d.ip} serves ${hostnames.join(", ")}`);
      },
      onGoAway(_code, reason) {
        log.info(`connector ${d.conn?.id} is draining: ${reason}`);
      },
      onClose(reason) {
        if (d.conn) registry.remove(d.conn);
        log.info(`connector ${d.conn?.id ?? "(unregistered)"} from ${d.ip} disconnected: ${reason}`);
      },
    });
    d.session = session;
  }

  // ---- routing -------------------------------------------------------------------------

  let server: Server<WsData>;
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
    idleTimeout: 60,
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
      else flushClient(ws as ServerWebSocket<ClientData>);
    },
    close(ws: ServerWebSocket<WsData>, code: number, reason: string) {
      const d = ws.data;
      if (d.kind === "client") {
        // 1006: the client's process ended without a close frame (ssh hangs up on its
        // ProxyCommand as it exits, so this is also how many sessions end normally).
        const how = code === 1000 || code === 1005 ? "" : code === 1006 ? " (it went away without closing)" : ` (${code}${reason ? ` ${reason}` : ""})`;
        void sessions.end(d.sessionId, `the client disconnected${how}`);
        d.stream?.reset(ResetCode.canceled, "client disconnected");
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
   * connections. */
  async function rebind() {
    if (opts.tls.mode !== "self-signed") return;
    const old = server;
    server = await serve(port);
    old.stop(false);
  }

  log.info(`edge listening on ${scheme}://${listen.hostname}:${port} (public URL ${publicUrl})`);
  return {
    url: publicUrl,
    port,
    store,
    async stop() {
      if (pruneTimer) clearInterval(pruneTimer);
      await sessions.closeAll("the edge is shutting down");
      for (const c of registry.all()) c.session.goAway(ResetCode.goingAway, "edge is shutting down");
      server.stop(true);
      await store.close?.();
    },
  };
}

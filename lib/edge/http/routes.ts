// The request router. The edge's own host serves health, the admin API, the connector
// endpoint, downloads, the OAuth endpoints and the sign-in pages; every other host is an
// application: its SSH certificate endpoint and SSH CA key, client upgrades, the metadata
// that leads a client to the sign-in, and a page that explains what the hostname is.
import type { Server, SocketAddress } from "bun";
import { isIP } from "node:net";
import { log } from "../../cli/log.ts";
import { findApp, type Store } from "../../store/index.ts";
import { CLIENT_ID_HEADER, CONNECT_PATH, DOCTOR_PATH, METADATA_PATH, PEER_PATH, PEER_SESSIONS_PATH, SSH_CA_PATH, SSH_CERT_PATH } from "../../wire/http.ts";
import { authorizePeer, type PeerData } from "../streams/peer-endpoint.ts";
import { handleAdmin, type AdminContext } from "../admin/api.ts";
import { nodeSessions } from "../admin/sessions.ts";
import { answerPeerSessions } from "../cluster/sessions.ts";
import { handleConsole } from "../console/routes.ts";
import { appDoctor, edgeDoctor } from "./doctor.ts";
import { authorizeClient, type AuthorizeOptions } from "../decisions/authorize.ts";
import { authorizeResume } from "../decisions/resume.ts";
import { clientIp, type TrustedProxies } from "./client-ip.ts";
import { clientData, type ClientData } from "../streams/client-stream.ts";
import { authorizeConnector, type ConnectorData } from "../streams/connector-endpoint.ts";
import { isDownloadPath, serveDownloads } from "./downloads.ts";
import { enter, refusedResponse } from "./handshakes.ts";
import { createLoad, type Load } from "./load.ts";
import { waitForBody } from "./slow-bodies.ts";
import { handleOAuth, metadata, type SignInContext } from "../signin/oauth.ts";
import { busyPage, edgeErrorPage, edgeHomePage, LOGO_PATH, logoResponse, notFoundPage, siteOf, sshAppPage, unknownHostPage, wantsPage, withSecurityHeaders } from "./pages.ts";
import { handleSignInPages } from "../signin/routes.ts";
import type { TerminalData } from "../terminal/ssh.ts";
import { appTerminalRoute, edgeTerminalRoute, type TerminalRouteContext } from "../terminal/routes.ts";
import { edgeSshCAGone, handleSshCert, serveAppSshCA } from "../decisions/ssh-cert.ts";
import { bodyRefused, onBodyWait } from "./body.ts";
import { splitHostPort } from "../../net/address.ts";
import { bearerToken } from "../../wire/bearer.ts";

export type WsData = ClientData | ConnectorData | PeerData | TerminalData;

export interface RouteContext {
  /** In a cluster: the secret peer nodes present at PEER_PATH. */
  clusterSecret?(): string | undefined;
  store: Store;
  publicUrl(): string;
  /** The edge's own host name (from the public URL). */
  edgeHost(): string;
  trustedProxies: TrustedProxies;
  signIn: SignInContext;
  admin: Omit<AdminContext, "publicUrl">;
  downloadsDir?: string;
  auditFailOpen?: boolean;
  metrics?: AuthorizeOptions["metrics"];
  /** Requests in progress and requests waiting for their bodies (lib/edge/http/load.ts). */
  load?: Load;
  /** The address of the listener's peer: the client, or whom the TLS-ALPN front connected for. */
  peerAddress?(peer: SocketAddress | null): string;
}

/** The Host header's name, as the store writes names: lower case, no port, no IPv6 brackets, no trailing dot. */
export const hostOf = (req: Request) => (splitHostPort(req.headers.get("host") ?? "", 0)?.hostname ?? "").replace(/\.$/, "").toLowerCase();

/** Whether a request carries a credential the edge checks before any other work: a service
 * token, or a bearer token (an app token, a connector's, an admin's, a peer's). */
const hasCredential = (req: Request) => req.headers.has(CLIENT_ID_HEADER) || bearerToken(req.headers.get("authorization")) !== undefined;

export function createRouter(ctx: RouteContext) {
  const { requests, slowBodies, verifiedBodies } = ctx.load ?? createLoad();
  const isEdgeHost = (host: string) => host === ctx.edgeHost() || host === "localhost" || isIP(host) !== 0;
  /** Who is asking, for the pages: the configured name and logo (lib/edge/config/file.ts), else the public host. */
  const site = () => siteOf(ctx.signIn.identity.brand, ctx.publicUrl());
  const logo = () => logoResponse(ctx.signIn.identity.brand?.logo);
  const upgradeOr400 = (srv: Server<WsData>, req: Request, data: WsData) => (srv.upgrade(req, { data }) ? undefined : new Response("WebSocket upgrade failed\n", { status: 400 }));
  const terminalCtx = (srv: Server<WsData>, req: Request): TerminalRouteContext => ({ store: ctx.store, signIn: ctx.signIn, site, auditFailOpen: ctx.auditFailOpen, metrics: ctx.metrics, upgrade: (data) => upgradeOr400(srv, req, data) });

  async function edgeHostRoute(req: Request, url: URL, srv: Server<WsData>, ip: string, upgrade: boolean): Promise<Response | undefined> {
    if (url.pathname === SSH_CA_PATH) return edgeSshCAGone();
    if (url.pathname === DOCTOR_PATH && !upgrade) return edgeDoctor(req, ctx.admin);
    if (url.pathname.startsWith("/api/")) return handleAdmin(req, { ...ctx.admin, publicUrl: ctx.publicUrl(), ip });
    if (url.pathname === CONNECT_PATH && upgrade) return upgradeOr400(srv, req, await authorizeConnector(ctx.store, req, ip));
    if (url.pathname === PEER_PATH && upgrade) return upgradeOr400(srv, req, authorizePeer(req, ip, ctx.clusterSecret?.()));
    if (url.pathname === PEER_SESSIONS_PATH && req.method === "GET") return answerPeerSessions(req, ctx.clusterSecret?.(), () => nodeSessions(ctx.admin));
    if (isDownloadPath(url.pathname)) return serveDownloads(req, url.pathname, { dir: ctx.downloadsDir, publicUrl: ctx.publicUrl() });
    if (url.pathname === "/") return edgeHomePage(site());
    const consoleAnswer = !upgrade && (await handleConsole(req, url, { admin: { ...ctx.admin, publicUrl: ctx.publicUrl() }, signIn: ctx.signIn, site }, ip));
    if (consoleAnswer) return consoleAnswer;
    if (url.pathname === LOGO_PATH) return logo();
    const signInResponse = (await edgeTerminalRoute(req, url, ip, terminalCtx(srv, req))) ?? (await handleOAuth(req, url, ctx.signIn, ip)) ?? (await handleSignInPages(req, url, ctx.signIn, ip));
    return signInResponse ?? (wantsPage(req) ? notFoundPage(site()) : new Response("not found\n", { status: 404 }));
  }

  async function appHostRoute(req: Request, url: URL, srv: Server<WsData>, ip: string, upgrade: boolean, host: string): Promise<Response | undefined> {
    const authorize = (purpose?: "ssh-certificate") => authorizeClient(ctx.store, req, host, ip, { auditFailOpen: ctx.auditFailOpen, purpose, metrics: ctx.metrics });
    if (url.pathname === SSH_CERT_PATH && req.method === "POST") return handleSshCert(req, ctx.store, await authorize("ssh-certificate"));
    if (url.pathname === SSH_CA_PATH && !upgrade) return serveAppSshCA(ctx.store, host);
    if (url.pathname === DOCTOR_PATH && !upgrade) return appDoctor(req, ctx.admin, host, ip);
    // SSH in the browser, where the application has it on (lib/edge/terminal/routes.ts)
    const terminal = await appTerminalRoute(req, url, ip, upgrade, host, terminalCtx(srv, req));
    if (terminal !== false) return terminal;
    if (upgrade) return upgradeOr400(srv, req, clientData(await authorizeResume(ctx.store, req, (resume) => authorizeClient(ctx.store, req, host, ip, { auditFailOpen: ctx.auditFailOpen, metrics: ctx.metrics, resume }))));
    // A client that knows only the application's hostname finds the edge's sign-in here.
    if (url.pathname === METADATA_PATH) return Response.json(metadata(ctx.publicUrl()), { headers: { "cache-control": "no-store" } });
    if (url.pathname === LOGO_PATH) return logo();
    if (!(await findApp(ctx.store, host))) return unknownHostPage(site(), host);
    const windows = /\bWindows\b/.test(req.headers.get("user-agent") ?? "");
    return sshAppPage(site(), { hostname: host, edgeUrl: ctx.publicUrl(), installer: Boolean(ctx.downloadsDir), ownCa: Boolean(ctx.signIn.caPem), windows });
  }

  async function answer(req: Request, srv: Server<WsData>): Promise<Response | undefined> {
    // Bun builds req.url from the Host header: one that names no host ("", "a b") is the client's error
    const url = URL.parse(req.url);
    if (!url) return new Response("bad request: the Host header names no host\n", { status: 400 });
    const host = hostOf(req);
    const peer = srv.requestIP(req);
    const ip = clientIp(ctx.peerAddress ? ctx.peerAddress(peer) : (peer?.address ?? ""), req.headers.get("x-forwarded-for"), ctx.trustedProxies);
    const upgrade = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    const edge = isEdgeHost(host);
    if (edge && url.pathname === "/healthz") return new Response("ok\n"); // the probe works while the limit below refuses
    const place = enter(requests, ip, hasCredential(req));
    if ("refused" in place) return !upgrade && wantsPage(req) ? busyPage(site(), place.refused) : refusedResponse(place.refused);
    onBodyWait(req, (drop, sender) => {
      place.stepAside();
      const endWait = sender === undefined ? waitForBody(slowBodies, ip, drop) : waitForBody(verifiedBodies, sender, drop);
      return () => (endWait(), place.stepBack());
    });
    try {
      return await (edge ? edgeHostRoute(req, url, srv, ip, upgrade) : appHostRoute(req, url, srv, ip, upgrade, host));
    } catch (err) {
      // A program gets the listener's plain 500; a person, a page that says what to do.
      if (upgrade || !wantsPage(req)) throw err;
      log.error(`request failed: ${(err as Error).message}`);
      log.debug((err as Error).stack ?? "");
      return edgeErrorPage(site());
    } finally {
      place.release();
    }
  }

  // Every answer carries the pages' Content-Security-Policy (lib/edge/http/pages.ts), whatever it is.
  return async function route(req: Request, srv: Server<WsData>): Promise<Response | undefined> {
    const res = await answer(req, srv);
    if (res && bodyRefused(req)) res.headers.set("connection", "close");
    return res && withSecurityHeaders(res);
  };
}

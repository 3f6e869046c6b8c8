// The edge's one HTTPS listener: TLS from certificate files, from the edge's own CA (a
// certificate for the edge's host and one per zone), from ACME (the store's certificates for
// the edge's host and each application, lib/edge/http/acme.ts), or none behind a TLS-terminating
// proxy. A zone added or removed, or a certificate ordered, needs new certificates; Bun cannot swap them on a live listener, so
// a new listener takes the port (SO_REUSEPORT) and the old one stops accepting but keeps its
// connections. With ACME's TLS-ALPN-01, the public port is a front (lib/edge/http/tls-front.ts) and
// the HTTPS listener is on 127.0.0.1 behind it.
import type { Server, SocketAddress, WebSocketHandler } from "bun";
import { configError } from "../../cli/exit.ts";
import { log } from "../../cli/log.ts";
import { listZones, servedAcmeCertificates, type Store } from "../../store/index.ts";
import { issueCert, newCA, type CA, type IssuedCert } from "../../tls/ca.ts";
import type { AcmeSettings } from "./acme.ts";
import { BODY_LIMITS } from "./body.ts";
import { startFront, type ChallengeCert, type Front } from "./tls-front.ts";

export type TlsMode = { mode: "self-signed" } | { mode: "files"; cert: string; key: string } | { mode: "acme"; acme: AcmeSettings } | { mode: "off" };

export interface ListenerOptions<D> {
  hostname: string;
  port: number;
  tls: TlsMode;
  /** With self-signed TLS: the CA that issues the certificates. */
  ca?: CA;
  store: Store;
  /** The edge's own host name, which gets the first certificate. */
  edgeHost(): string;
  fetch(req: Request, server: Server<D>): Promise<Response | undefined>;
  websocket: WebSocketHandler<D>;
  /** With ACME's TLS-ALPN-01: the challenge's certificate for a name the CA asks about. */
  alpnChallenge?(name: string): Promise<ChallengeCert | undefined>;
}

/** The client's address when the front cannot say it: matches no address, no range, no trusted proxy. */
export const UNKNOWN_PEER = "unknown";

/** The ACME certificates the listener serves, by name (the key's "@<not-after>" left out). */
const logServing = (key: string) => log.info(`serving the store's ACME certificates now: ${key.replace(/@\d+/g, "") || "none"}`);

const zoneKey = (zones: { name: string }[]) => zones.map((z) => z.name).sort().join(" ");

/** Until ACME has issued the edge host's certificate, a stand-in nobody trusts (made once). */
let standIn: Promise<IssuedCert> | undefined;
const standInCert = (host: string) => (standIn ??= newCA().then((ca) => issueCert(ca, [host])));

/** ACME mode: the store's certificates, the edge host's first (clients without SNI get it). */
async function acmeTls(store: Store, edgeHost: string) {
  const { certs, key } = await servedAcmeCertificates(store);
  const own = certs.find((c) => c.name === edgeHost);
  const first = own ? { cert: own.certPem, key: own.keyPem } : await standInCert(edgeHost);
  const rest = certs.filter((c) => c !== own).map((c) => ({ serverName: c.name, cert: c.certPem, key: c.keyPem }));
  return { tls: [{ serverName: edgeHost, ...first }, ...rest], zones: key };
}

/** What the certificates were made from: the zones (self-signed), the stored certificates (ACME). */
const boundKeyNow = async (tls: TlsMode, store: Store) => (tls.mode === "acme" ? (await servedAcmeCertificates(store)).key : zoneKey(await listZones(store)));

async function tlsConfig(opts: ListenerOptions<unknown>, store: Store) {
  const { tls, ca } = opts;
  if (tls.mode === "off") return { tls: undefined, zones: "" };
  if (tls.mode === "files") {
    const [cert, key] = await Promise.all([Bun.file(tls.cert).text(), Bun.file(tls.key).text()]).catch((e) => {
      throw configError(`cannot read the TLS certificate or key: ${e.message}`);
    });
    return { tls: { cert, key }, zones: "" };
  }
  if (tls.mode === "acme") return acmeTls(store, opts.edgeHost());
  // The edge's own names come first: clients that connect by IP send no SNI and get it.
  const edgeHost = opts.edgeHost();
  const own = [...new Set([edgeHost, "localhost", "127.0.0.1", "::1"])];
  const entries = [{ serverName: edgeHost, ...(await issueCert(ca!, own)) }];
  const zones = await listZones(store);
  for (const z of zones) {
    entries.push({ serverName: `*.${z.name}`, ...(await issueCert(ca!, [z.name, `*.${z.name}`])) });
    entries.push({ ...entries[entries.length - 1]!, serverName: z.name });
  }
  return { tls: entries, zones: zoneKey(zones) };
}

export async function listen<D>(opts: ListenerOptions<D>) {
  const servers = new Set<Server<D>>(); // rebind() leaves older listeners serving their connections
  /** The zones the listener has certificates for, to notice zones added through another node. */
  let boundZones = "";
  const serve = async ({ hostname, port }: { hostname: string; port: number }) => {
    const { tls, zones } = await tlsConfig(opts as ListenerOptions<unknown>, opts.store);
    boundZones = zones;
    const server = Bun.serve<D>({
      hostname,
      port,
      reusePort: true,
      maxRequestBodySize: BODY_LIMITS.listener,
      tls,
      fetch: opts.fetch,
      websocket: opts.websocket,
      error(err) {
        log.error(`request failed: ${err.message}`);
        log.debug(err.stack ?? "");
        return new Response("internal error\n", { status: 500 });
      },
    });
    servers.add(server);
    return server;
  };

  // TLS-ALPN-01: the HTTPS listener on a loopback port of its own, the front on the public one
  const fronted = opts.tls.mode === "acme" && opts.tls.acme.challenge === "tls-alpn-01";
  const bind = { hostname: opts.hostname, port: opts.port };
  if (fronted) Object.assign(bind, { hostname: "127.0.0.1", port: 0 });
  let server = await serve(bind);
  const port = server.port!;
  // what a node serves from the start (certificates another node ordered before it started)
  if (opts.tls.mode === "acme" && boundZones) logServing(boundZones);
  let front: Front | undefined;
  try {
    if (fronted) front = startFront({ hostname: opts.hostname, port: opts.port, upstreamPort: () => port, challenge: async (name) => opts.alpnChallenge?.(name) });
  } catch (e) {
    server.stop(true);
    throw e;
  }

  /** One rebind at a time: two at once would both replace the same old listener, and the
   * second's predecessor would go on listening on the shared port with its old certificates.
   * A rebind whose turn comes when the certificates already match the store is skipped: the
   * admin's own rebind and the watcher's for the same change made two, and a request queued at
   * the listener the second one closed was reset. Whether it rebound. */
  let rebinding: Promise<unknown> = Promise.resolve();
  function rebind(): Promise<boolean> {
    if (opts.tls.mode !== "self-signed" && opts.tls.mode !== "acme") return Promise.resolve(false);
    const next = rebinding.then(async () => {
      if ((await boundKeyNow(opts.tls, opts.store)) === boundZones) return false;
      const old = server;
      server = await serve({ hostname: bind.hostname, port });
      old.stop(false);
      return true;
    });
    rebinding = next.catch(() => {});
    return next;
  }

  return {
    /** The public port (the front's, when there is one). */
    port: front?.port ?? port,
    /** The client's address for the HTTPS listener's peer. Behind the front every peer is the
     * front, which names its client; one it cannot name (there should be none) is "unknown",
     * never the loopback address that trusted-proxies or an ip: rule might believe. */
    peerAddress: (peer: SocketAddress | null) => (front ? ((peer && front.peerOf(peer.port)) ?? UNKNOWN_PEER) : (peer?.address ?? "")),
    rebind,
    /** Rebinds when the store's zones differ from those the certificates name (a change made
     * through another node), or, with ACME, when the store's certificates changed. */
    async zonesMaybeChanged() {
      if (!(await rebind())) return;
      if (opts.tls.mode === "acme") logServing(boundZones);
      else log.info(`the zones in the store changed (now: ${boundZones || "none"}): certificates issued for them`);
    },
    /** Stops accepting; `closeActive` also drops the connections already open. */
    stop(closeActive: boolean) {
      front?.stop(closeActive);
      for (const s of servers) s.stop(closeActive);
    },
  };
}
export type Listener = Awaited<ReturnType<typeof listen>>;

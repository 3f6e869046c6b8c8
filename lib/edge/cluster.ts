// This node in a cluster of edge nodes on one PostgreSQL store: it records itself and the
// hostnames it holds connectors for (renewed every keepalive interval, and at once when its
// connectors change), and reaches the nodes that hold a hostname it lacks over peer links: one
// multiplexed WebSocket per peer, dialed on first need, authenticated with the cluster secret.
// On SQLite there is one node and none of this runs.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { log } from "../cli/log.ts";
import { clusterSecret, heartbeatNode, nodesServing, pruneNodes, registerNode, removeNode, type Store } from "../store/index.ts";
import { ResetCode } from "../wire/frame.ts";
import { NODE_HEADER, PEER_PATH } from "../wire/http.ts";
import { createMux, type Mux } from "../wire/mux.ts";
import { clientTransport } from "../wire/ws-transport.ts";
import { coalesced } from "./coalesce.ts";
import type { ConnectorRegistry } from "./connectors.ts";

export interface ClusterOptions {
  store: Store;
  nodeId: string;
  /** Where peers reach this node: its own address, not a load balancer's. */
  peerUrl: string;
  version: string;
  keepalive: { intervalMs: number; timeoutMs: number };
  connectors: ConnectorRegistry;
  /** The TLS name the nodes' certificates carry (the edge's public host), and the CA to trust. */
  servername: string;
  caPem?: string;
}

/** This node's own address: the listen address, or, listening on every interface, the first
 * non-loopback IPv4 address (127.0.0.1 on a machine with none). */
export function ownUrl(scheme: string, hostname: string, port: number): string {
  let h = hostname;
  if (h === "0.0.0.0" || h === "::") h = Object.values(networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal)?.address ?? "127.0.0.1";
  return `${scheme}://${isIP(h) === 6 ? `[${h}]` : h}:${port}`;
}

/** How long a peer link may take to open before the client is told no connector is online. */
const DIAL_TIMEOUT_MS = 5_000;

export async function joinCluster(opts: ClusterOptions) {
  const { store, nodeId, keepalive, connectors } = opts;
  const secret = await clusterSecret(store);
  await registerNode(store, { id: nodeId, peerUrl: opts.peerUrl, version: opts.version });
  let draining = false;

  const hostnames = () => {
    const m = new Map<string, number>();
    for (const c of connectors.all()) if (!c.mux.peerGoingAway) for (const h of c.hostnames) m.set(h, (m.get(h) ?? 0) + 1);
    return m;
  };
  const beat = coalesced(() => heartbeatNode(store, nodeId, hostnames(), draining).catch((e: Error) => log.warn(`cluster: cannot record this node's heartbeat: ${e.message}`)));
  const timer = setInterval(() => {
    void beat();
    void pruneNodes(store, keepalive.timeoutMs * 10).catch(() => {});
  }, keepalive.intervalMs);
  timer.unref?.();

  const links = new Map<string, Promise<Mux>>();

  function dial(node: { id: string; peerUrl: string }): Promise<Mux> {
    return new Promise((resolve, reject) => {
      const url = `${node.peerUrl.replace(/^http/, "ws").replace(/\/+$/, "")}${PEER_PATH}`;
      const tls = { servername: opts.servername, ...(opts.caPem ? { ca: opts.caPem } : {}) };
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${secret}`, [NODE_HEADER]: nodeId, host: opts.servername }, tls } as never);
      ws.binaryType = "nodebuffer";
      let mux: Mux | undefined;
      const transport = clientTransport(ws, () => mux);
      const timeout = setTimeout(() => ws.terminate(), DIAL_TIMEOUT_MS);
      ws.onopen = () => {
        clearTimeout(timeout);
        mux = createMux({
          role: "opener",
          transport,
          pingIntervalMs: keepalive.intervalMs,
          deadAfterMs: keepalive.timeoutMs,
          onClose: (reason) => {
            links.delete(node.id);
            log.info(`cluster: peer link to node ${node.id} closed: ${reason}`);
          },
          onGoAway: () => links.delete(node.id),
        });
        mux.hello({});
        log.info(`cluster: peer link to node ${node.id} at ${node.peerUrl} open`);
        resolve(mux);
      };
      ws.onmessage = (ev) => {
        mux?.receive(ev.data as Uint8Array);
        transport.poll();
      };
      ws.onclose = (ev) => {
        clearTimeout(timeout);
        transport.stop();
        links.delete(node.id);
        if (mux) mux.close(`the peer closed the link (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`);
        else reject(new Error(`cannot open a peer link to node ${node.id} at ${node.peerUrl} (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`));
      };
    });
  }

  function linkTo(node: { id: string; peerUrl: string }): Promise<Mux> {
    let link = links.get(node.id);
    if (!link) {
      link = dial(node);
      links.set(node.id, link);
      link.catch(() => links.delete(node.id));
    }
    return link;
  }

  return {
    nodeId,
    secret,
    /** Connectors came or went here: peers learn at once. */
    changed: beat,
    /** A link to a live node that holds a connector for `hostname`, or undefined. */
    async pick(hostname: string): Promise<Mux | undefined> {
      for (const node of await nodesServing(store, hostname, nodeId, keepalive.timeoutMs)) {
        try {
          const mux = await linkTo(node);
          if (!mux.closed && !mux.peerGoingAway) return mux;
        } catch (e) {
          log.warn(`cluster: ${(e as Error).message}`);
        }
      }
      return undefined;
    },
    /** Draining: peers stop sending clients here; links out are told to go away. */
    async leave() {
      draining = true;
      clearInterval(timer);
      await beat(); // the registry says draining until the node is removed

      await removeNode(store, nodeId).catch((e: Error) => log.warn(`cluster: cannot remove this node from the registry: ${e.message}`));
      for (const l of links.values()) void l.then((m) => m.goAway(ResetCode.goingAway, "node is shutting down"), () => {});
    },
    /** Closes the links this node opened. */
    close() {
      for (const l of links.values()) void l.then((m) => m.close("node stopped"), () => {});
    },
  };
}
export type Cluster = Awaited<ReturnType<typeof joinCluster>>;

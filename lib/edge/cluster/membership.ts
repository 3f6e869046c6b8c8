// This node in a cluster of edge nodes on one PostgreSQL store: it records itself (a one-row
// liveness write every keepalive interval, registering again if peers pruned it) and the
// hostnames it holds connectors for, with the resume-capable connector processes among them
// (what changed, when its connectors change), and reaches the nodes that hold a hostname it
// lacks (or, for a resume, the stream's connector process) over peer links: one multiplexed
// WebSocket per peer, dialed on first need, authenticated with the cluster secret.
// On SQLite there is one node and none of this runs.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { log } from "../../cli/log.ts";
import { clusterSecret, heartbeatNode, nodesServing, pruneNodes, registerNode, removeNode, writeInventory, type Inventory, type Store } from "../../store/index.ts";
import { ResetCode, type OpenMeta } from "../../wire/frame.ts";
import type { Mux } from "../../wire/mux.ts";
import { dialPeer } from "./peer-link.ts";
import { resumeOnPeers, type PeerResume } from "./peer-resume.ts";
import { coalesced } from "../runtime/coalesce.ts";
import type { Connectors } from "../streams/connectors.ts";

export interface ClusterOptions {
  store: Store;
  nodeId: string;
  /** Where peers reach this node: its own address, not a load balancer's. */
  peerUrl: string;
  version: string;
  keepalive: { intervalMs: number; timeoutMs: number };
  connectors: Connectors;
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

/** A node silent for this many keepalive timeouts is removed from the registry by its peers. */
const PRUNE_AFTER_TIMEOUTS = 10;

type PeerPick = { mux: Mux; processes: string[] };

export async function joinCluster(opts: ClusterOptions) {
  const { store, nodeId, keepalive, connectors } = opts;
  const secret = await clusterSecret(store);
  const self = { id: nodeId, peerUrl: opts.peerUrl, version: opts.version };
  await registerNode(store, self);
  let draining = false;

  // What the store holds of this node's hostnames; undefined: not known (at start, after a failed
  // write), so the next write replaces them all. `epoch` moves when the node registers again, so
  // that a write begun before cannot claim to have written onto the new row.
  let written: Inventory | undefined;
  let epoch = 0;
  const inventory = coalesced(async () => {
    const at = epoch;
    const next = connectors.hostnameCounts();
    try {
      await writeInventory(store, nodeId, next, written);
      written = at === epoch ? next : undefined;
    } catch (e) {
      written = undefined;
      log.warn(`cluster: cannot record the hostnames this node serves: ${(e as Error).message}`);
    }
  });
  // Liveness alone, however many hostnames: a slow inventory write never makes this node look dead.
  const alive = coalesced(async () => {
    try {
      if (await heartbeatNode(store, nodeId, draining)) return;
      // pruned while silent (a partition, a paused machine): the prune took its hostnames too
      await registerNode(store, self);
      if (draining) await heartbeatNode(store, nodeId, draining); // registering says not draining
      epoch++;
      written = new Map();
      log.warn(`cluster: peers had pruned this node from the registry (silent over ${(keepalive.timeoutMs * PRUNE_AFTER_TIMEOUTS) / 1000} s); registered it again`);
      await inventory();
    } catch (e) {
      log.warn(`cluster: cannot record this node's heartbeat: ${(e as Error).message}`);
    }
  });
  const beat = async () => void (await Promise.all([alive(), inventory()]));
  const timer = setInterval(() => {
    void beat();
    void pruneNodes(store, keepalive.timeoutMs * PRUNE_AFTER_TIMEOUTS).catch(() => {});
  }, keepalive.intervalMs);
  timer.unref?.();

  const links = new Map<string, Promise<Mux>>();

  function linkTo(node: { id: string; peerUrl: string }): Promise<Mux> {
    let link = links.get(node.id);
    if (!link) {
      link = dialPeer(node, { nodeId, secret, servername: opts.servername, caPem: opts.caPem, keepalive, onGone: () => links.delete(node.id) });
      links.set(node.id, link);
      link.catch(() => links.delete(node.id));
    }
    return link;
  }

  /** Live links to the nodes that hold a connector for `hostname`, most connections first, with
   * the resume-capable connector processes each holds for it. */
  async function* linksServing(hostname: string): AsyncGenerator<PeerPick> {
    for (const node of await nodesServing(store, hostname, nodeId, keepalive.timeoutMs)) {
      const mux = await linkTo(node).catch((e: Error) => void log.warn(`cluster: ${e.message}`));
      if (mux && !mux.closed && !mux.peerGoingAway) yield { mux, processes: node.processes };
    }
  }

  return {
    nodeId,
    secret,
    /** Connectors came or went here: peers learn at once. */
    changed: inventory,
    /** One heartbeat: liveness, and the hostnames if they changed (the timer's, for tests). */
    beat,
    /** A link to a live node that holds a connector for `hostname`, and, if any there is
     * resume-capable, one such connector process (a new stream may be opened resumable to it). */
    async pick(hostname: string): Promise<{ mux: Mux; process?: string } | undefined> {
      for await (const { mux, processes } of linksServing(hostname)) return { mux, process: processes[Math.floor(Math.random() * processes.length)] };
      return undefined;
    },
    /** A resume (`meta.resume`) opened on the node that holds its connector process, or undefined. */
    resume: (meta: OpenMeta): Promise<PeerResume | undefined> => resumeOnPeers(linksServing(meta.host), meta),
    /** Draining: peers stop sending clients here; links out are told to go away. */
    async leave() {
      draining = true;
      clearInterval(timer);
      await alive(); // the registry says draining until the node is removed

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

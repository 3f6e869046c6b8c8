// The cluster's nodes (PostgreSQL only): each node records itself, its peer URL and which
// hostnames it holds connectors for, and renews that with a heartbeat; a node whose heartbeat
// is older than the keepalive timeout is dead to the others. Peers authenticate with the
// cluster secret, kept here: every node already trusts this store with everything else.
import { randomSecret, verifySecret, hashSecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ms } from "./open.ts";

export type EdgeNode = { id: string; peerUrl: string; version: string; startedAt: number; heartbeatAt: number; draining: boolean; hostnames: { hostname: string; connections: number }[] };
type NodeRow = { id: string; peer_url: string; version: string; started_at: BigIntColumn; heartbeat_at: BigIntColumn; draining: BigIntColumn };

/** Records this node (again, after a restart with the same id). */
export async function registerNode(store: Store, n: { id: string; peerUrl: string; version: string }): Promise<void> {
  const now = Date.now();
  await store.sql`
    INSERT INTO edge_nodes (id, peer_url, version, started_at, heartbeat_at, draining) VALUES (${n.id}, ${n.peerUrl}, ${n.version}, ${now}, ${now}, 0)
    ON CONFLICT (id) DO UPDATE SET peer_url = ${n.peerUrl}, version = ${n.version}, started_at = ${now}, heartbeat_at = ${now}, draining = 0`;
}

/** The heartbeat: this node is alive and holds connectors for these hostnames (hostname -> connections). */
export async function heartbeatNode(store: Store, id: string, hostnames: Map<string, number>, draining = false): Promise<void> {
  await store.sql.begin(async (tx) => {
    await tx`UPDATE edge_nodes SET heartbeat_at = ${Date.now()}, draining = ${draining ? 1 : 0} WHERE id = ${id}`;
    await tx`DELETE FROM node_hostnames WHERE node_id = ${id}`;
    for (const [hostname, connections] of hostnames) await tx`INSERT INTO node_hostnames (node_id, hostname, connections) VALUES (${id}, ${hostname}, ${connections})`;
  });
}

/** A node leaves (a drain): peers stop sending it clients at once. */
export async function removeNode(store: Store, id: string): Promise<void> {
  await store.sql`DELETE FROM edge_nodes WHERE id = ${id}`;
}

/** Nodes heard from within `freshMs`, with what they serve. */
export async function listNodes(store: Store, freshMs: number): Promise<EdgeNode[]> {
  const since = Date.now() - freshMs;
  const rows: NodeRow[] = await store.sql`SELECT * FROM edge_nodes WHERE heartbeat_at >= ${since} ORDER BY started_at`;
  const hosts: { node_id: string; hostname: string; connections: BigIntColumn }[] = await store.sql`SELECT node_id, hostname, connections FROM node_hostnames ORDER BY hostname`;
  return rows.map((r) => ({
    id: r.id,
    peerUrl: r.peer_url,
    version: r.version,
    startedAt: ms(r.started_at),
    heartbeatAt: ms(r.heartbeat_at),
    draining: Number(r.draining) === 1,
    hostnames: hosts.filter((h) => h.node_id === r.id).map((h) => ({ hostname: h.hostname, connections: Number(h.connections) })),
  }));
}

/** Live nodes other than `self` that hold a connector for `hostname`, fewest connections last. */
export async function nodesServing(store: Store, hostname: string, self: string, freshMs: number): Promise<{ id: string; peerUrl: string }[]> {
  const since = Date.now() - freshMs;
  const rows: { id: string; peer_url: string }[] = await store.sql`
    SELECT n.id, n.peer_url FROM node_hostnames h JOIN edge_nodes n ON n.id = h.node_id
    WHERE h.hostname = ${hostname} AND n.id <> ${self} AND n.heartbeat_at >= ${since} AND n.draining = 0
    ORDER BY h.connections DESC`;
  return rows.map((r) => ({ id: r.id, peerUrl: r.peer_url }));
}

/** Forgets nodes silent for longer than `deadMs` (their rows only; they hold nothing else). */
export async function pruneNodes(store: Store, deadMs: number): Promise<number> {
  const rows: { id: string }[] = await store.sql`DELETE FROM edge_nodes WHERE heartbeat_at < ${Date.now() - deadMs} RETURNING id`;
  return rows.length;
}

/** The cluster secret, made by the first node that asks. */
export async function clusterSecret(store: Store): Promise<string> {
  const fresh = randomSecret();
  await store.sql`INSERT INTO cluster_secret (id, secret) VALUES (1, ${fresh}) ON CONFLICT (id) DO NOTHING`;
  const [row]: { secret: string }[] = await store.sql`SELECT secret FROM cluster_secret WHERE id = 1`;
  return row!.secret;
}

/** Constant-time check of a secret a peer presented. */
export const checkClusterSecret = (presented: string, secret: string) => verifySecret(presented, hashSecret(secret));

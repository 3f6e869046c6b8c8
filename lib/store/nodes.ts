// The cluster's nodes (PostgreSQL only): each node records itself, its peer URL and which
// hostnames it holds connectors for (with the connector processes there that take resumable
// streams), and renews that with a heartbeat: liveness is a one-row write, the hostnames a diff
// written only when it changed (a node with ten thousand of them must not look dead while it
// writes them). A node whose heartbeat is older than the keepalive
// timeout is dead to the others. Peers authenticate with the cluster secret, kept here: every
// node already trusts this store with everything else.
import { randomSecret, verifySecret, hashSecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ms } from "./open.ts";

export type EdgeNode = { id: string; peerUrl: string; version: string; startedAt: number; heartbeatAt: number; draining: boolean; hostnames: ({ hostname: string } & Served)[] };
type NodeRow = { id: string; peer_url: string; version: string; started_at: BigIntColumn; heartbeat_at: BigIntColumn; draining: BigIntColumn };

/** Records this node (again, after a restart with the same id). */
export async function registerNode(store: Store, n: { id: string; peerUrl: string; version: string }): Promise<void> {
  const now = Date.now();
  await store.sql`
    INSERT INTO edge_nodes (id, peer_url, version, started_at, heartbeat_at, draining) VALUES (${n.id}, ${n.peerUrl}, ${n.version}, ${now}, ${now}, 0)
    ON CONFLICT (id) DO UPDATE SET peer_url = ${n.peerUrl}, version = ${n.version}, started_at = ${now}, heartbeat_at = ${now}, draining = 0`;
}

/** The heartbeat's liveness, one row: this node is alive (and draining, or not). False when the
 * node has no row: peers pruned it while it was silent, and it must register again. */
export async function heartbeatNode(store: Store, id: string, draining = false): Promise<boolean> {
  const rows: { id: string }[] = await store.sql`UPDATE edge_nodes SET heartbeat_at = ${Date.now()}, draining = ${draining ? 1 : 0} WHERE id = ${id} RETURNING id`;
  return rows.length > 0;
}

/** What a node holds for a hostname: its connections, and the connector processes among them
 * that take resumable streams (sorted; none from a node of an earlier release). */
export type Served = { connections: number; processes: string[] };
/** What a node holds connectors for: hostname -> what serves it there. */
export type Inventory = Map<string, Served>;

const same = (a: Served | undefined, b: Served) => a?.connections === b.connections && a.processes.join() === b.processes.join();

/**
 * Writes the change from `written` (what the store holds for this node; undefined when not
 * known, after a start or a failed write) to `next`, in one statement on PostgreSQL: the rows
 * that changed or came, and the removal of the ones that went (with nothing known, of every row
 * of the node that `next` lacks). Nothing at all when nothing changed. True when it wrote.
 */
export async function writeInventory(store: Store, id: string, next: Inventory, written?: Inventory): Promise<boolean> {
  const upsert = [...next].filter(([h, s]) => !same(written?.get(h), s)).map(([hostname, s]) => ({ hostname, connections: s.connections, processes: JSON.stringify(s.processes) }));
  const gone = written ? [...written.keys()].filter((h) => !next.has(h)) : undefined;
  if (upsert.length === 0 && gone?.length === 0) return false;
  const rows = JSON.stringify(upsert);
  // the rows that go: those named in `gone`, or (nothing known) those not named in `next`
  const names = JSON.stringify(gone ?? [...next.keys()]);
  const others = gone ? 0 : 1;
  if (store.adapter === "postgres") {
    await store.sql`
      WITH dropped AS (
        DELETE FROM node_hostnames WHERE node_id = ${id} AND CASE WHEN ${others} = 1
          THEN hostname NOT IN (SELECT jsonb_array_elements_text(${names}::text::jsonb))
          ELSE hostname IN (SELECT jsonb_array_elements_text(${names}::text::jsonb)) END
      )
      INSERT INTO node_hostnames (node_id, hostname, connections, processes)
      SELECT ${id}, x.hostname, x.connections, x.processes FROM jsonb_to_recordset(${rows}::text::jsonb) AS x(hostname text, connections integer, processes text)
      ON CONFLICT (node_id, hostname) DO UPDATE SET connections = EXCLUDED.connections, processes = EXCLUDED.processes`;
    return true;
  }
  // SQLite (one node; its tests): the same, in one transaction
  await store.sql.begin(async (tx) => {
    await tx`
      DELETE FROM node_hostnames WHERE node_id = ${id} AND CASE WHEN ${others} = 1
        THEN hostname NOT IN (SELECT value FROM json_each(${names}))
        ELSE hostname IN (SELECT value FROM json_each(${names})) END`;
    await tx`
      INSERT INTO node_hostnames (node_id, hostname, connections, processes)
      SELECT ${id}, json_extract(value, '$.hostname'), json_extract(value, '$.connections'), json_extract(value, '$.processes') FROM json_each(${rows}) WHERE true
      ON CONFLICT (node_id, hostname) DO UPDATE SET connections = excluded.connections, processes = excluded.processes`;
  });
  return true;
}

/** A node leaves (a drain): peers stop sending it clients at once. */
export async function removeNode(store: Store, id: string): Promise<void> {
  await store.sql`DELETE FROM edge_nodes WHERE id = ${id}`;
}

/** Nodes heard from within `freshMs`, with what they serve. */
export async function listNodes(store: Store, freshMs: number): Promise<EdgeNode[]> {
  const since = Date.now() - freshMs;
  const rows: NodeRow[] = await store.sql`SELECT * FROM edge_nodes WHERE heartbeat_at >= ${since} ORDER BY started_at`;
  const hosts: { node_id: string; hostname: string; connections: BigIntColumn; processes: string }[] = await store.sql`SELECT node_id, hostname, connections, processes FROM node_hostnames ORDER BY hostname`;
  return rows.map((r) => ({
    id: r.id,
    peerUrl: r.peer_url,
    version: r.version,
    startedAt: ms(r.started_at),
    heartbeatAt: ms(r.heartbeat_at),
    draining: Number(r.draining) === 1,
    hostnames: hosts.filter((h) => h.node_id === r.id).map((h) => ({ hostname: h.hostname, connections: Number(h.connections), processes: JSON.parse(h.processes) as string[] })),
  }));
}

/** Live nodes other than `self` that hold a connector for `hostname`, fewest connections last,
 * with the resume-capable connector processes each holds for it. */
export async function nodesServing(store: Store, hostname: string, self: string, freshMs: number): Promise<{ id: string; peerUrl: string; processes: string[] }[]> {
  const since = Date.now() - freshMs;
  const rows: { id: string; peer_url: string; processes: string }[] = await store.sql`
    SELECT n.id, n.peer_url, h.processes FROM node_hostnames h JOIN edge_nodes n ON n.id = h.node_id
    WHERE h.hostname = ${hostname} AND n.id <> ${self} AND n.heartbeat_at >= ${since} AND n.draining = 0
    ORDER BY h.connections DESC`;
  return rows.map((r) => ({ id: r.id, peerUrl: r.peer_url, processes: JSON.parse(r.processes) as string[] }));
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

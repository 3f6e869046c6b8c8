// A node's heartbeat with one tenant's many hostnames on it, the database a millisecond away
// each way (a delay proxy in front of PostgreSQL): its peers must still see it alive within
// their deadline, each beat is a few statements however many hostnames it holds, and a node
// that peers pruned while it was silent comes back at its next beat.
//
// The node's connector connections are stand-ins (a real registry, each entry with the little
// of a mux the heartbeat reads): ten thousand real connector registrations through a 1 ms
// link would take minutes. Runs where WICKET_TEST_POSTGRES_URL names a server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { joinCluster, type Cluster } from "../../lib/edge/cluster/membership.ts";
import { createConnectors, type ConnectorConn, type Connectors } from "../../lib/edge/streams/connectors.ts";
import { heartbeatNode, listNodes, nodesServing, openStore, pruneNodes, registerNode, writeInventory, type EdgeNode, type Inventory, type Store } from "../../lib/store/index.ts";
import type { Mux } from "../../lib/wire/mux.ts";
import { DEFAULT_KEEPALIVE } from "../../lib/wire/mux.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/faultproxy.ts";
import { statementCounter } from "../helpers/pgwire.ts";
import { BACKENDS, PG, tempDatabase, withStore } from "../helpers/store.ts";

const HOSTNAMES = 10_000;
const PER_CONNECTION = 250;
/** A peer counts a node dead when its heartbeat is older than this. */
const DEADLINE_MS = DEFAULT_KEEPALIVE.timeoutMs;
/** Liveness, and the inventory when it changed: never one statement per hostname. */
const MAX_STATEMENTS_PER_BEAT = 2;
const NODE = "wnd_crowded";

/** A connection for `hostnames`, registered as far as the heartbeat can tell. */
function standIn(i: number, hostnames: string[]): ConnectorConn {
  const mux = { closed: false, peerGoingAway: false, streams: new Map() } as unknown as Mux;
  return { id: `connector-${i}`, zone: "crowd.test", hostnames, tunnel: { id: `wtn_${i}`, name: `t${i}` }, who: { kind: "tunnel", tunnel: { id: `wtn_${i}`, name: `t${i}`, zone: "crowd.test", secretHash: "" } }, mux, remote: "192.0.2.1" };
}

/** `p`, or a failure that says what took longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(!PG)(`a node holding ${HOSTNAMES} hostnames, its database 1 ms away`, () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let proxy: FaultProxy;
  let nodeStore: Store;
  let peer: Store;
  let registry: Connectors;
  let cluster: Cluster;
  const conns: ConnectorConn[] = [];
  const counter = statementCounter();
  const seenByPeer = async (): Promise<EdgeNode | undefined> => (await listNodes(peer, DEADLINE_MS)).find((n) => n.id === NODE);

  beforeAll(async () => {
    db = await tempDatabase();
    const url = new URL(db.url);
    proxy = await startFaultProxy({ port: Number(url.port || 5432), host: url.hostname, delayMs: 1, observe: counter.observe });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    viaProxy.searchParams.set("sslmode", "disable"); // the counter reads the wire
    nodeStore = await openStore({ url: viaProxy.toString() });
    peer = await openStore({ url: db.url });
    registry = createConnectors();
    for (let i = 0; i < HOSTNAMES / PER_CONNECTION; i++) {
      const c = standIn(i, Array.from({ length: PER_CONNECTION }, (_, j) => `h${i * PER_CONNECTION + j}.crowd.test`));
      conns.push(c);
      registry.add(c);
    }
    // the interval is the test's: it calls each beat itself (beat()), so that it can count them
    cluster = await joinCluster({ store: nodeStore, nodeId: NODE, peerUrl: "https://127.0.0.1:1", version: "test", keepalive: { intervalMs: 3_600_000, timeoutMs: DEADLINE_MS }, connectors: registry, servername: "edge.test" });
  }, 30_000);

  afterAll(async () => {
    cluster?.close();
    await nodeStore?.close();
    await peer?.close();
    await proxy?.stop(true);
    await db?.[Symbol.asyncDispose]();
  });

  // Failed before: one transaction of a DELETE and then an INSERT per hostname, 10,000 round
  // trips, committed (liveness with it) only at the end: tens of seconds, dead to every peer.
  test(`its first beat records every hostname and its liveness within the ${DEADLINE_MS / 1000} s a peer waits, in at most ${MAX_STATEMENTS_PER_BEAT} statements`, async () => {
    const before = counter.statements;
    const started = performance.now();
    await within(cluster.beat(), DEADLINE_MS, `the heartbeat of a node with ${HOSTNAMES} hostnames`);
    const node = await seenByPeer();
    expect(node?.hostnames.length).toBe(HOSTNAMES);
    expect(Date.now() - node!.heartbeatAt).toBeLessThan(DEADLINE_MS);
    console.log(`first beat with ${HOSTNAMES} hostnames, 1 ms each way: ${(performance.now() - started).toFixed(0)} ms, ${counter.statements - before} statements`);
    expect(counter.statements - before).toBeLessThanOrEqual(MAX_STATEMENTS_PER_BEAT);
  }, 60_000);

  test("a beat with nothing changed writes liveness alone; a beat after a connection went writes what changed, in one statement", async () => {
    let before = counter.statements;
    const { heartbeatAt } = (await seenByPeer())!;
    await cluster.beat();
    expect(counter.statements - before).toBe(1);
    expect((await seenByPeer())!.heartbeatAt).toBeGreaterThanOrEqual(heartbeatAt);

    registry.remove(conns[0]!);
    before = counter.statements;
    await cluster.beat();
    expect(counter.statements - before).toBe(2);
    const node = (await seenByPeer())!;
    expect(node.hostnames.length).toBe(HOSTNAMES - PER_CONNECTION);
    expect(node.hostnames.some((h) => h.hostname === conns[0]!.hostnames[0])).toBe(false);
    expect(node.hostnames.find((h) => h.hostname === conns[1]!.hostnames[0])).toEqual({ hostname: conns[1]!.hostnames[0]!, connections: 1, processes: [] });
  }, 30_000);

  // Failed before: the liveness UPDATE found no row, the INSERTs hit the foreign key, and the
  // node stayed out of the registry (its tenants unreachable from other nodes) until restarted.
  test("pruned by a peer while it was silent, the node registers again at its next beat, with all its hostnames", async () => {
    await peer.sql`UPDATE edge_nodes SET heartbeat_at = ${Date.now() - 3_600_000} WHERE id = ${NODE}`;
    expect(await pruneNodes(peer, 60_000)).toBe(1);
    expect(await seenByPeer()).toBeUndefined();
    const before = counter.statements;
    await within(cluster.beat(), DEADLINE_MS, "the beat after the node was pruned");
    // the liveness write that found no row, the registration, and every hostname in one
    expect(counter.statements - before).toBe(3);
    const node = await seenByPeer();
    expect(node).toMatchObject({ id: NODE, peerUrl: "https://127.0.0.1:1", draining: false });
    expect(node!.hostnames.length).toBe(HOSTNAMES - PER_CONNECTION);
  }, 30_000);
});

for (const backend of BACKENDS) {
  describe(`a node's inventory in the store (${backend})`, () => {
    const held = async (store: Store, id: string) => Object.fromEntries(((await listNodes(store, 60_000)).find((n) => n.id === id)?.hostnames ?? []).map((h) => [h.hostname, h.connections]));
    /** An inventory of connections alone: no connector process takes resumable streams. */
    const counts = (entries: [string, number][]): Inventory => new Map(entries.map(([h, connections]) => [h, { connections, processes: [] }]));
    test("is written whole when what the store holds is not known, then as the change alone, and not at all when nothing changed", () =>
      withStore(backend, async (store) => {
        await registerNode(store, { id: "wnd_a", peerUrl: "https://a", version: "t" });
        await registerNode(store, { id: "wnd_b", peerUrl: "https://b", version: "t" });
        await writeInventory(store, "wnd_b", counts([["b.test", 1]]));
        // a row left by an earlier run of this node, which it no longer holds
        await writeInventory(store, "wnd_a", counts([["stale.test", 2], ["x.test", 9]]));
        const first = counts([["x.test", 1], ["y.test", 4]]);
        expect(await writeInventory(store, "wnd_a", first)).toBe(true);
        expect(await held(store, "wnd_a")).toEqual({ "x.test": 1, "y.test": 4 });
        expect(await writeInventory(store, "wnd_a", new Map(first), first)).toBe(false);
        const second = counts([["y.test", 2], ["z.test", 1]]);
        expect(await writeInventory(store, "wnd_a", second, first)).toBe(true);
        expect(await held(store, "wnd_a")).toEqual({ "y.test": 2, "z.test": 1 });
        expect(await held(store, "wnd_b")).toEqual({ "b.test": 1 }); // another node's rows stay
        expect(await heartbeatNode(store, "wnd_a")).toBe(true);
        expect(await heartbeatNode(store, "wnd_gone")).toBe(false);
      }));
    test("names the connector processes that take resumable streams, not those going away, and writes a change of them alone", () =>
      withStore(backend, async (store) => {
        await registerNode(store, { id: "wnd_a", peerUrl: "https://a", version: "t" });
        const registry = createConnectors();
        registry.add({ ...standIn(1, ["x.test"]), resume: true });
        registry.add(standIn(2, ["x.test"])); // an older connector: no resumption
        const leaving = { ...standIn(3, ["x.test"]), resume: true };
        (leaving.mux as { peerGoingAway: boolean }).peerGoingAway = true;
        registry.add(leaving);
        const first = registry.hostnameCounts();
        expect(first).toEqual(new Map([["x.test", { connections: 2, processes: ["connector-1"] }]]));
        expect(await writeInventory(store, "wnd_a", first)).toBe(true);
        const second = new Map([["x.test", { connections: 2, processes: ["connector-1", "connector-4"] }]]);
        expect(await writeInventory(store, "wnd_a", second, first)).toBe(true);
        expect(await nodesServing(store, "x.test", "wnd_self", 60_000)).toEqual([{ id: "wnd_a", peerUrl: "https://a", processes: ["connector-1", "connector-4"] }]);
      }));
  });
}

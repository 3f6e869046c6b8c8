// Two edge nodes on one PostgreSQL store, as a company runs them: each has its own data
// directory, with the same CA (copied, as the README says to) and the store's admin token.
// What is set up through one node works through the other, a session held by one node is
// listed and revoked through the other, and a change in the store reaches a node by NOTIFY.
// Runs where WICKET_TEST_POSTGRES_URL names a server (CI sets one up).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { watchAccess } from "../lib/edge/decisions/access-watch.ts";
import { heartbeatNode, openStore, registerNode, removeNode, revokeUser, type EdgeNode } from "../lib/store/index.ts";
import { connectTcp, Mode, type TcpClient } from "./helpers/origin.ts";
import { expectExit, spawnProc, type Proc } from "./helpers/proc.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type TestEdge } from "./helpers/wicket.ts";

const HOST = "echo.cluster.test";
const ORIGIN = new URL("./helpers/origin.ts", import.meta.url).pathname;

describe.skipIf(!PG)("two edge nodes on one PostgreSQL store", () => {
  let dirA: TempDir;
  let dirB: TempDir;
  let a: TestEdge;
  let b: TestEdge;
  let origin: Proc;
  let originPort: number;
  let db: Awaited<ReturnType<typeof tempDatabase>>;

  beforeAll(async () => {
    db = await tempDatabase();
    const database = ["--database", db.url];

    origin = spawnProc([process.execPath, ORIGIN, "serve"], { name: "origin" });
    originPort = Number((await origin.waitForLine(/origin listening on 127\.0\.0\.1 port (\d+)/, { stream: "stdout" }))[1]);

    dirA = await tempDir("wicket-node-a-");
    a = await startEdge({ dir: dirA, extra: database });
    // node B: the same CA and the store's admin token, in a data directory of its own
    dirB = await tempDir("wicket-node-b-");
    mkdirSync(dirB.join("edge"), { recursive: true, mode: 0o700 });
    for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(a.dataDir, f), join(dirB.join("edge"), f));
    b = await startEdge({ dir: dirB, extra: database });
  }, 60_000);

  afterAll(async () => {
    await b?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
    if (origin) expect(await origin.stop()).toBe(0);
    await db?.[Symbol.asyncDispose]();
    await dirA?.[Symbol.asyncDispose]();
    await dirB?.[Symbol.asyncDispose]();
  });

  test("a zone and application made through node A serve through node B; a session B holds is revoked through A", async () => {
    const token = await a.app(HOST); // zone, application, token and policy, through node A
    // node B notices the zone in the store and issues its certificate
    await b.proc.waitForLine(/the zones in the store changed \(now: cluster\.test\): certificates issued for them/, { stream: "stderr", timeoutMs: 10_000 });
    await b.tunnel(HOST, `tcp://127.0.0.1:${originPort}`, ["--ha-connections", "1"]); // the connector dials node B
    const { port } = await b.accessTcp(HOST, token);

    const got: Uint8Array[] = [];
    const echoed = Promise.withResolvers<void>();
    const conn: TcpClient = await connectTcp(port, (c) => {
      got.push(c.slice());
      if (Buffer.concat(got).toString() === "ping") echoed.resolve();
    });
    await conn.write(new TextEncoder().encode(`${Mode.echo}ping`));
    await echoed.promise;

    const [live] = JSON.parse(await b.admin(["session", "list", "--json"])) as { id: string; host: string }[];
    expect(live).toMatchObject({ host: HOST });
    expect(JSON.parse(await a.admin(["session", "list", "--here", "--json"]))).toEqual([]); // A holds none
    // ...but lists the whole cluster's: B's session, marked with B's node id
    const idB = nodeAt(JSON.parse(await a.admin(["node", "list", "--json"])), b).id;
    expect(JSON.parse(await a.admin(["session", "list", "--json"]))).toMatchObject([{ id: live!.id, host: HOST, node: idB }]);
    expect(JSON.parse(await b.admin(["session", "list", "--json"]))).toMatchObject([{ id: live!.id, node: idB }]);
    expect(await a.admin(["session", "list"])).toMatch(new RegExp(`^${live!.id}\\s+${idB}\\s+token:${token.name}\\s+${HOST}`, "m"));

    const started = performance.now();
    const out = await a.admin(["session", "revoke", live!.id]);
    expect(out).toContain(`revoked session ${live!.id} of token:${token.name} to ${HOST}: it is not on this edge node`);
    await conn.ended; // node B cut it: access tcp closed the local connection
    const ms = performance.now() - started;
    console.log(`session revoke through node A -> session on node B cut in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(2000);
    conn.close();
    expect(JSON.parse(await b.admin(["session", "list", "--json"]))).toEqual([]);
    const audit = await a.admin(["audit", "--host", HOST, "--json"]);
    expect(audit).toContain(`session ${live!.id} was revoked by an admin`);
  }, 60_000);

  test("edge node list on either node shows both nodes, and the hostname B holds a connector for", async () => {
    for (const on of [a, b]) {
      const nodes = JSON.parse(await on.admin(["node", "list", "--json"])) as EdgeNode[];
      expect(nodes.map((n) => n.peerUrl).sort()).toEqual([a.url, b.url].sort());
      expect(nodeAt(nodes, a)).toMatchObject({ draining: false, hostnames: [] });
      expect(nodeAt(nodes, b)).toMatchObject({ draining: false, hostnames: [{ hostname: HOST, connections: 1 }] });
      for (const n of nodes) expect(Date.now() - n.heartbeatAt).toBeLessThan(10_000);
      const table = await on.admin(["node", "list"]);
      expect(table).toMatch(/^ID\s+PEER URL\s+VERSION\s+STARTED\s+HEARTBEAT\s+HOSTNAMES\s+DRAINING$/m);
      expect(table).toContain(`${nodeAt(nodes, b).id}  ${b.url}`);
      expect(table).toContain(`${HOST} (1)`);
    }
  });

  test("session list names a live node that does not answer within 2 s as unreachable, and lists the rest", async () => {
    // a node in the registry whose address accepts connections and never answers
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    await using store = await openStore({ url: db.url });
    const id = "wnd_silent";
    await registerNode(store, { id, peerUrl: `https://127.0.0.1:${silent.port}`, version: "test" });
    await heartbeatNode(store, id);
    try {
      const started = performance.now();
      const r = expectExit(await wicket(["edge", "session", "list", "--json", "--data-dir", a.dataDir]));
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(JSON.parse(r.stdout)).toEqual([]); // B answered: it holds none now
      expect(r.stderr).toContain(`node ${id} at https://127.0.0.1:${silent.port} is not listed: did not answer within 2 s`);
    } finally {
      await removeNode(store, id);
      silent.stop(true);
    }
  });

  test("a change in the store reaches a node's watcher at once by NOTIFY, and again after its listening connection drops", async () => {
    const named = new URL(db.url);
    named.searchParams.set("application_name", "wicket_watch_test"); // to find its LISTEN connection
    await using store = await openStore({ url: named.toString() });
    await using other = await openStore({ url: db.url }); // "another node"
    const changes: number[] = [];
    let changed = Promise.withResolvers<void>();
    // no poll that could deliver it within the test: only the push can
    const stop = watchAccess(
      store,
      60_000,
      async () => {
        changes.push(performance.now());
        changed.resolve();
      },
      { safetyNetMs: 60_000 },
    );
    try {
      await changed.promise; // the first check, once LISTEN is acknowledged
      changed = Promise.withResolvers();
      let started = performance.now();
      await revokeUser(other, "someone@example.com", "other-node");
      await changed.promise;
      const pushedMs = performance.now() - started;
      console.log(`access change on another node -> watcher ran in ${pushedMs.toFixed(1)} ms (NOTIFY)`);
      expect(pushedMs).toBeLessThan(200);

      // the listening connection drops: Bun reconnects and listens again, and the watcher checks then
      changed = Promise.withResolvers();
      const killed = await other.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'wicket_watch_test' AND query ILIKE 'LISTEN%'`;
      expect(killed.length).toBe(1);
      started = performance.now();
      await revokeUser(other, "another@example.com", "other-node"); // announced while nobody listens
      await changed.promise;
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await stop();
    }
  });
});

/** The registry entry of a test edge: its peer URL is its listen address, as its public URL is. */
function nodeAt(nodes: EdgeNode[], edge: TestEdge): EdgeNode {
  const n = nodes.find((x) => x.peerUrl === edge.url);
  if (!n) throw new Error(`no node at ${edge.url} in ${JSON.stringify(nodes)}`);
  return n;
}

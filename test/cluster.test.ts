// Two edge nodes on one PostgreSQL store, as a company runs them: each has its own data
// directory, with the same CA (copied, as the README says to) and the store's admin token.
// What is set up through one node works through the other, and a session held by one node is
// revoked through the other. Runs where WICKET_TEST_POSTGRES_URL names a server (CI sets one up).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { connectTcp, Mode, type TcpClient } from "./helpers/origin.ts";
import { spawnProc, type Proc } from "./helpers/proc.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type TestEdge } from "./helpers/wicket.ts";

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
    expect(JSON.parse(await a.admin(["session", "list", "--json"]))).toEqual([]); // A holds none

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
});

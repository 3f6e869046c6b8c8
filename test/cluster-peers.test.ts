// Three edge nodes on one PostgreSQL store, and one connector attached to node 1 only: clients
// of nodes 2 and 3 reach its server over peer links (ssh, scp, git), a revocation made through
// node 3 cuts a session that node 2 holds, a peer link without the cluster secret is refused,
// and when node 1 dies the connector moves and nodes 2 and 3 serve again. Runs where
// WICKET_TEST_POSTGRES_URL names a server (CI sets one up).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Close } from "../lib/wire/close.ts";
import { PEER_PATH } from "../lib/wire/http.ts";
import { git } from "./helpers/git.ts";
import { expectExit, run, spawnProc, type Proc } from "./helpers/proc.ts";
import { startSshd, type Sshd } from "./helpers/sshd.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, WICKET, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

const HOST = "ssh.peers.test";
const sha256 = async (path: string) => new Bun.CryptoHasher("sha256").update(await readFile(path)).digest("hex");

describe.skipIf(!PG)("three edge nodes, one connector on node 1", () => {
  const dirs: TempDir[] = [];
  const nodes: TestEdge[] = [];
  let sshd: Sshd;
  let token: ServiceToken;
  let connector: Proc;
  let db: Awaited<ReturnType<typeof tempDatabase>>;

  beforeAll(async () => {
    db = await tempDatabase();
    sshd = await startSshd();
    for (let i = 0; i < 3; i++) {
      const dir = await tempDir(`wicket-peer-${i + 1}-`);
      dirs.push(dir);
      if (i > 0) {
        // the same CA and admin token as node 1, as the README says
        mkdirSync(dir.join("edge"), { recursive: true, mode: 0o700 });
        for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(nodes[0]!.dataDir, f), join(dir.join("edge"), f));
      }
      nodes.push(await startEdge({ dir, extra: ["--database", db.url] }));
    }
    token = await nodes[0]!.app(HOST);
    for (const n of nodes.slice(1)) await n.proc.waitForLine(/the zones in the store changed \(now: peers\.test\)/, { stream: "stderr", timeoutMs: 10_000 });
    // one connection, to node 1 first; the others are where it goes when node 1 is gone
    const cert = await nodes[0]!.tunnelCert("peers.test");
    const edges = nodes.flatMap((n) => ["--edge", n.url]);
    connector = spawnProc([WICKET, "tunnel", "--hostname", HOST, "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", cert, "--ca-file", nodes[0]!.caFile, "--ha-connections", "1", ...edges], { name: "connector" });
    await connector.waitForLine(new RegExp(`connection 0 registered with ${nodes[0]!.url.replace(/\W/g, "\\$&")}`), { stream: "stderr", timeoutMs: 15_000 });
  }, 90_000);

  afterAll(async () => {
    await connector?.stop();
    for (const n of nodes.reverse()) await n?.[Symbol.asyncDispose]();
    await sshd?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
    for (const d of dirs) await d[Symbol.asyncDispose]();
  });

  const client = (n: TestEdge) => sshd.client(HOST, { proxyCommand: n.proxyCommand(token) });

  test("ssh, scp of 64 MiB and git through nodes 2 and 3 reach the server whose connector is on node 1", async () => {
    for (const n of nodes.slice(1)) {
      const r = await run(["ssh", ...(await client(n)).args, HOST, "echo through a peer"]);
      expect([r.code, r.stdout]).toEqual([0, "through a peer\n"]);
    }
    const dir = dirs[1]!;
    const src = dir.join("up.bin");
    const buf = new Uint8Array(64 * 1024 * 1024);
    for (let o = 0; o < buf.byteLength; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
    await writeFile(src, buf);
    const via2 = await client(nodes[1]!);
    const remote = `${sshd.dir}/peer-remote.bin`;
    expectExit(await run(["scp", "-q", ...via2.args, src, `${HOST}:${remote}`], { timeoutMs: 60_000 }));
    const back = dir.join("back.bin");
    expectExit(await run(["scp", "-q", ...via2.args, `${HOST}:${remote}`, back], { timeoutMs: 60_000 }));
    expect(await sha256(back)).toBe(await sha256(src));

    const via3 = await client(nodes[2]!);
    const bare = `${sshd.dir}/peer-repo.git`;
    expectExit(await git(["init", "-q", "--bare", "-b", "main", bare]));
    const work = dir.join("work");
    expectExit(await git(["clone", "-q", `${HOST}:${bare}`, work], { ssh: via3.command }));
    await writeFile(`${work}/README`, "hello through a peer\n");
    expectExit(await git(["-C", work, "add", "README"]));
    expectExit(await git(["-C", work, "-c", "user.email=t@peers.test", "-c", "user.name=t", "commit", "-q", "-m", "first"]));
    expectExit(await git(["-C", work, "push", "-q", "origin", "HEAD:main"], { ssh: via3.command }));
  }, 120_000);

  test("a peer link without the cluster secret is refused", async () => {
    const closed = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${nodes[1]!.url.replace(/^http/, "ws")}${PEER_PATH}`, { headers: { authorization: "Bearer not-the-secret" }, tls: { ca: Bun.file(nodes[1]!.caFile) } } as never);
      ws.onclose = (e) => resolve(e.code);
    });
    expect(closed).toBe(Close.unauthenticated);
    await nodes[1]!.proc.waitForLine(/refused a peer link from \S+ \(node \?\): wrong or missing cluster secret/, { stream: "stderr" });
  });

  test("a session on node 2 is cut within 1 s of its token being revoked through node 3", async () => {
    const tok = await nodes[0]!.app(`other.peers.test`); // a token of its own, for this test only
    await nodes[0]!.admin(["policy", "add", HOST, "--name", `allow ${tok.name}`, "--action", "allow", "--include", `token:${tok.name}`]);
    const c = await sshd.client(HOST, { proxyCommand: nodes[1]!.proxyCommand(tok) });
    const ssh = spawnProc(["ssh", ...c.args, HOST, "echo up; sleep 60"], { name: "ssh via node 2" });
    await ssh.waitForLine(/^up$/, { stream: "stdout", timeoutMs: 15_000 });
    const started = performance.now();
    await nodes[2]!.admin(["token", "revoke", tok.name]);
    const code = await ssh.exited;
    const ms = performance.now() - started;
    console.log(`token revoke through node 3 -> session on node 2 cut in ${ms.toFixed(0)} ms`);
    expect(code).toBe(255);
    expect(ms).toBeLessThan(1000);
  }, 30_000);

  test("node 1 killed: the connector moves, and ssh through nodes 2 and 3 works again within the reconnect bound", async () => {
    nodes[0]!.proc.kill("SIGKILL");
    const killed = performance.now();
    await connector.waitForLine(/connection 0 registered with /, { stream: "stderr", timeoutMs: 20_000 });
    for (const n of nodes.slice(1)) {
      const r = await run(["ssh", ...(await client(n)).args, HOST, "echo after the loss"]);
      expect([r.code, r.stdout]).toEqual([0, "after the loss\n"]);
    }
    console.log(`node 1 killed -> ssh through nodes 2 and 3 again after ${((performance.now() - killed) / 1000).toFixed(1)} s`);
  }, 60_000);
});

// Resuming through another node of a cluster (issue 30, docs/resume.md): three edge nodes on one
// PostgreSQL store, a connector with one connection to node 1 and one to node 2, and clients
// that reach "the edge" through a fault proxy that the test points at another node, as a load
// balancer or DNS would after a node dies. When node 1, the client's node, is killed with
// SIGKILL, the client resumes through node 3, which holds no connection of the connector and
// reaches it over its peer link to node 2. A session that started on node 3, over a peer link,
// is resumable too: node 3 opened it to a connector process the registry names, and one opened
// for a process that has left that node ends at once instead of waiting to resume. A connector that moves to another node during the
// gap re-attaches its stream there, past a node whose replica of the tunnel does not hold it.
// And the resume is decided again where it arrives: a token revoked during the gap does not
// resume. Real sshd, ssh and the compiled wicket as
// ProxyCommand. Runs where WICKET_TEST_POSTGRES_URL names a server (CI sets one up).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startConnector, type Connector } from "./helpers/connector.ts";
import { startFaultProxy, type FaultProxy } from "./helpers/faultproxy.ts";
import { freePort } from "./helpers/ports.ts";
import { spawnProc, type Proc } from "./helpers/proc.ts";
import { startSshd, type Sshd } from "./helpers/sshd.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { randomFile, tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

const HOST = "ssh.resume-cluster.test";
const COUNT = 80; // a line every 100 ms: eight seconds of session
const UPLOAD_MIB = 64;

describe.skipIf(!PG)("a session resumes through another node of the cluster", () => {
  const dirs: TempDir[] = [];
  const nodes: TestEdge[] = [];
  let sshd: Sshd;
  let connector: Connector;
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let upload: { path: string; sha: string };

  beforeAll(async () => {
    db = await tempDatabase();
    sshd = await startSshd();
    for (let i = 0; i < 3; i++) {
      const dir = await tempDir(`wicket-resume-cluster-${i + 1}-`);
      dirs.push(dir);
      if (i > 0) {
        // the same CA and admin token as node 1, as the README says
        mkdirSync(dir.join("edge"), { recursive: true, mode: 0o700 });
        for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(nodes[0]!.dataDir, f), join(dir.join("edge"), f));
      }
      nodes.push(await startEdge({ dir, extra: ["--database", db.url] }));
    }
    await nodes[0]!.app(HOST);
    for (const n of nodes.slice(1)) await n.proc.waitForLine(/the zones in the store changed \(now: resume-cluster\.test\)/, { stream: "stderr", timeoutMs: 10_000 });
    // connection 0 on node 1 (where the clients start), connection 1 on node 2; none on node 3
    connector = await startConnector(nodes[0]!, ["--hostname", HOST, "--url", `ssh://127.0.0.1:${sshd.port}`, "--ha-connections", "2", "--edge", nodes[0]!.url, "--edge", nodes[1]!.url], { wait: 2, zone: "resume-cluster.test" });
    upload = { path: dirs[0]!.join("up.bin"), sha: "" };
    upload.sha = await randomFile(upload.path, UPLOAD_MIB);
  }, 90_000);

  afterAll(async () => {
    await connector?.[Symbol.asyncDispose]();
    for (const n of nodes.reverse()) await n?.[Symbol.asyncDispose]();
    await sshd?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
    for (const d of dirs) await d[Symbol.asyncDispose]();
  });

  /** A token of its own for HOST, so that revoking it touches no other test. */
  let tokens = 0;
  async function ownToken(): Promise<ServiceToken> {
    const tok = await nodes[0]!.app(`t${++tokens}.resume-cluster.test`);
    await nodes[0]!.admin(["policy", "add", HOST, "--name", `allow ${tok.name}`, "--action", "allow", "--include", `token:${tok.name}`]);
    return tok;
  }

  /** ssh to HOST through `proxy` (in front of node 1 at first), the client logging at info. */
  async function ssh(proxy: FaultProxy, token: ServiceToken, command: string, name: string, stdin?: Blob): Promise<Proc> {
    const edge = nodes[0]!;
    const client = await sshd.client(HOST, { proxyCommand: edge.proxyCommand(token, ["--loglevel", "info"]).replace(edge.url, proxy.url) });
    return spawnProc(["ssh", ...client.args, HOST, command], { name, ...(stdin ? { stdin } : {}) });
  }

  const counter = `for i in $(seq 1 ${COUNT}); do echo $i; sleep 0.1; done`;

  test("a token revoked during the gap does not resume, though the client comes back through another node", async () => {
    const tok = await ownToken();
    await using proxy = await startFaultProxy({ port: nodes[0]!.port });
    const s = await ssh(proxy, tok, counter, "ssh counter (revoked)");
    await s.waitForLine(/^3$/, { stream: "stdout" });
    // the gap: nothing listens where the proxy now sends the client, which keeps trying
    proxy.retarget(freePort());
    for (const c of proxy.live()) c.cut();
    await s.waitForLine(/resuming \(attempt 2\)/, { stream: "stderr", timeoutMs: 10_000 });
    await nodes[1]!.admin(["token", "revoke", tok.name]);
    proxy.retarget(nodes[2]!.port);
    expect(await s.exited, s.output()).toBe(255);
    expect(s.stderr()).toMatch(new RegExp(`the service token "${tok.name}" was revoked`));
    expect(s.stderr()).not.toMatch(/resumed after/);
    const last = Number(s.stdout().trim().split("\n").at(-1));
    expect(last).toBeLessThan(COUNT);
  }, 30_000);

  test("the connector moves from node 2 to node 3 during the gap: the client, back on node 2, resumes through the peer link to node 3, past node 1 whose replica does not hold the stream", async () => {
    const host = "moves.resume-cluster.test";
    const tok = await nodes[0]!.app(host);
    // the connector's one connection goes to node 2 through a proxy that the test takes away
    await using link = await startFaultProxy({ port: nodes[1]!.port });
    await using moving = await startConnector(nodes[0]!, ["--hostname", host, "--url", `ssh://127.0.0.1:${sshd.port}`, "--ha-connections", "1", "--edge", link.url, "--edge", nodes[2]!.url], { wait: 1, name: "moving connector", zone: "resume-cluster.test" });
    // a replica of the same tunnel, with more connections, on node 1 only: node 2 asks node 1
    // first, which serves the hostname but not with the process that holds the stream
    await using replica = await startConnector(nodes[0]!, ["--hostname", host, "--url", `ssh://127.0.0.1:${sshd.port}`, "--ha-connections", "2", "--edge", nodes[0]!.url], { wait: 2, name: "replica", zone: "resume-cluster.test" });
    await using proxy = await startFaultProxy({ port: nodes[1]!.port });
    const edge = nodes[0]!;
    const client = await sshd.client(host, { proxyCommand: edge.proxyCommand(tok, ["--loglevel", "info"]).replace(edge.url, proxy.url) });
    const count = spawnProc(["ssh", ...client.args, host, counter], { name: "ssh counter (connector moves)" });
    await count.waitForLine(/^3$/, { stream: "stdout" });
    await link.stop(true);
    await moving.proc.waitForLine(new RegExp(`connection 0 registered with ${nodes[2]!.url.replace(/\W/g, "\\$&")}`), { stream: "stderr", timeoutMs: 20_000 });
    expect(await count.exited, count.output()).toBe(0);
    expect(count.stdout().trim().split("\n")).toEqual(Array.from({ length: COUNT }, (_, i) => String(i + 1)));
    expect(count.stderr()).toMatch(/resumed after \d+\.\d s/);
    expect(nodes[1]!.proc.stderr()).toMatch(/resuming stream \S+ for \S+ through a peer node/);
    expect(moving.proc.stderr()).toMatch(/stream \S+ resumed \(cut 1\)/);
    expect(replica.proc.stderr()).not.toMatch(/resumed|holds no such stream/);
    expect(nodes[1]!.proc.stderr(), "node 2 asked node 1 too").toContain(`at ${nodes[0]!.url} open`);
  }, 45_000);

  // Failed before: a stream that started through a peer link was not resumable (only the node
  // with the connector's connection named its process in the id), and ssh exited 255 at the cut.
  test("a session that started on node 3, over its peer link to the connector, resumes through node 2 after a cut", async () => {
    const tok = await ownToken();
    await using proxy = await startFaultProxy({ port: nodes[2]!.port });
    const mark = connector.proc.stderr().length;
    const count = await ssh(proxy, tok, counter, "ssh counter (started over a peer link)");
    await count.waitForLine(/^3$/, { stream: "stdout" });
    proxy.retarget(nodes[1]!.port);
    for (const c of proxy.live()) c.cut();
    expect(await count.exited, count.output()).toBe(0);
    expect(count.stdout().trim().split("\n")).toEqual(Array.from({ length: COUNT }, (_, i) => String(i + 1)));
    expect(count.stderr()).toMatch(/resumed after \d+\.\d s/);
    expect(connector.proc.stderr().slice(mark)).toMatch(/stream \S+ resumed \(cut 1\)/);
  }, 30_000);

  // No real departure can be timed to fall between node 3's read of the registry and its open on
  // node 1: the registry's lag is made here by writing node 1's row as if another process served it.
  test("a stream opened over a peer link for a connector process that has left that node ends at once with a clear error, not after the grace", async () => {
    const tok = await ownToken();
    const node1 = /cluster: this node is (\S+);/.exec(nodes[0]!.proc.stderr())?.[1];
    expect(node1, "node 1 logs its id").toBeString();
    const sql = new SQL(db.url);
    const [row]: { connections: number; processes: string }[] = await sql`SELECT connections, processes FROM node_hostnames WHERE node_id = ${node1} AND hostname = ${HOST}`;
    // the most connections: node 3 sends the stream there first
    await sql`UPDATE node_hostnames SET connections = 99, processes = '["wicket-tunnel-gone"]' WHERE node_id = ${node1} AND hostname = ${HOST}`;
    try {
      await using proxy = await startFaultProxy({ port: nodes[2]!.port });
      const s = await ssh(proxy, tok, "echo reached", "ssh (connector left)");
      expect(await s.exited, s.output()).toBe(255);
      expect(s.stderr()).toContain("cannot be resumed: the connector it was opened to had just left its node; connect again");
      expect(s.stderr()).not.toMatch(/resuming \(attempt/);
    } finally {
      await sql`UPDATE node_hostnames SET connections = ${row!.connections}, processes = ${row!.processes} WHERE node_id = ${node1} AND hostname = ${HOST}`;
      await sql.close();
    }
  }, 30_000);

  test("node 1 killed with SIGKILL: the client resumes through node 3 and its peer link to node 2; counter and upload go on", async () => {
    const tok = await ownToken();
    await using proxy = await startFaultProxy({ port: nodes[0]!.port });
    const marks = { node3: nodes[2]!.proc.stderr().length, connector: connector.proc.stderr().length };
    const count = await ssh(proxy, tok, counter, "ssh counter");
    await count.waitForLine(/^3$/, { stream: "stdout" });
    const copy = await ssh(proxy, tok, "sha256sum", "ssh upload", Bun.file(upload.path));
    await proxy.until(() => proxy.conns.reduce((n, c) => n + c.bytesUp, 0) > 16 << 20, "16 MiB of the upload through the proxy", 30_000);
    // both streams went to connection 0, on node 1, which is the one to die
    proxy.retarget(nodes[2]!.port);
    nodes[0]!.proc.kill("SIGKILL");
    expect(await nodes[0]!.proc.exited).toBe(137);

    expect(await count.exited, count.output()).toBe(0);
    expect(await copy.exited, copy.output()).toBe(0);
    expect(count.stdout().trim().split("\n")).toEqual(Array.from({ length: COUNT }, (_, i) => String(i + 1)));
    expect(copy.stdout().trim().split(/\s+/)[0]).toBe(upload.sha);
    for (const p of [count, copy]) expect(p.stderr()).toMatch(/resumed after \d+\.\d s/);
    // node 3 sent both resumes over its peer link; the connector took each cut once
    const node3 = nodes[2]!.proc.stderr().slice(marks.node3);
    expect(node3.match(/resuming stream \S+ for \S+ through a peer node/g)?.length, node3).toBe(2);
    expect(connector.proc.stderr().slice(marks.connector).match(/stream \S+ resumed \(cut 1\)/g)?.length).toBe(2);
    const gaps = [count, copy].map((p) => /resumed after (\d+\.\d) s/.exec(p.stderr())?.[1] ?? "-");
    console.error(`node 1 SIGKILL: counter resumed through node 3 after ${gaps[0]} s, upload after ${gaps[1]} s`);
  }, 60_000);
});

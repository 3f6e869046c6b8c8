// Admin tokens on two edge nodes sharing one PostgreSQL store, through the real CLI: a token
// made through node A works through node B at once, within its zone only and for reads only
// when read-only; revoked through A, node B refuses it on the next request. Live sessions on
// node B are listed through A, to a zone admin's token and console sign-in in their zone only,
// and revoked through A; the peer path A asks B at takes the cluster secret and nothing else; a
// node that does not answer is named to an edge admin with its address, to a zone admin without.
// Runs where WICKET_TEST_POSTGRES_URL names a server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clusterSecret, openStore, registerNode, removeNode } from "../lib/store/index.ts";
import { freePort } from "./helpers/ports.ts";
import { PEER_SESSIONS_PATH } from "../lib/wire/http.ts";
import { connectTcp, Mode, serveOrigin, type TcpClient } from "./helpers/origin.ts";
import { expectExit } from "./helpers/proc.ts";
import { client, pinFromLog, pinIdIn } from "./helpers/signin.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type TestEdge } from "./helpers/wicket.ts";

describe.skipIf(!PG)("admin tokens across two nodes", () => {
  let dirA: TempDir;
  let dirB: TempDir;
  let a: TestEdge;
  let b: TestEdge;
  let db: Awaited<ReturnType<typeof tempDatabase>>;

  /** `wicket edge <args>` through a node with this admin token (no data directory). */
  const on = (node: TestEdge, token: string, args: string[]) => wicket(["edge", ...args, "--edge", node.url, "--ca-file", node.caFile, "--admin-token", token]);
  const onB = (token: string, args: string[]) => on(b, token, args);

  beforeAll(async () => {
    db = await tempDatabase();
    dirA = await tempDir("wicket-admin-a-");
    // node A logs PINs, for the console sign-in of alice, who administers a.test
    writeFileSync(dirA.join("edge.yaml"), "dev: true\ntrusted-proxies: 127.0.0.1\n");
    a = await startEdge({ dir: dirA, extra: ["--database", db.url, "--config", dirA.join("edge.yaml")] });
    dirB = await tempDir("wicket-admin-b-");
    mkdirSync(dirB.join("edge"), { recursive: true, mode: 0o700 });
    for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(a.dataDir, f), join(dirB.join("edge"), f));
    b = await startEdge({ dir: dirB, extra: ["--database", db.url] });
    await a.admin(["zone", "add", "a.test", "--admin", "alice@a.test"]);
    await a.admin(["zone", "add", "b.test"]);
    for (const h of ["ssh.a.test", "ssh.b.test"]) await a.admin(["app", "add", h]);
  }, 60_000);

  afterAll(async () => {
    await b?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
    await dirA?.[Symbol.asyncDispose]();
    await dirB?.[Symbol.asyncDispose]();
  });

  test("a zone token made on A: its zone only, through B; refused outside it with the edge's sentence (77)", async () => {
    const made = JSON.parse(await a.admin(["admin-token", "create", "ci-a", "--zone", "a.test", "--json"])) as { token: string; zone: string };
    expect(made.zone).toBe("a.test");
    const apps = JSON.parse(expectExit(await onB(made.token, ["app", "list", "--json"])).stdout) as { hostname: string }[];
    expect(apps.map((x) => x.hostname)).toEqual(["ssh.a.test"]);
    expectExit(await onB(made.token, ["policy", "add", "ssh.a.test", "--name", "team", "--action", "allow", "--include", "domain:a.test"]));
    const outside = await onB(made.token, ["policy", "add", "ssh.b.test", "--name", "mine", "--action", "allow", "--include", "everyone"]);
    expect(outside.code).toBe(77);
    expect(outside.stderr).toContain(`the admin token "ci-a" administers the zone a.test, and the application ssh.b.test is not in them; ask an admin of its zone`);
    const wide = await onB(made.token, ["zone", "add", "c.test"]);
    expect(wide.code).toBe(77);
    expect(wide.stderr).toContain("only an edge admin may do this");
    // the audit names the token, through either node
    const audit = (await a.admin(["audit", "--user", "ci-a", "--json"])).trim().split("\n").map((l) => JSON.parse(l) as { actor: string; action: string; ip: string });
    expect(audit.filter((r) => r.actor === "ci-a")).toMatchObject([{ actor: "ci-a", action: "policy.add", ip: "127.0.0.1" }]);
  }, 30_000);

  test("a read-only token reads through B, and every write is refused (77)", async () => {
    const made = JSON.parse(await a.admin(["admin-token", "create", "ro-a", "--zone", "a.test", "--read-only", "--expires", "30d", "--json"])) as { token: string; expiresAt: number };
    expect(made.expiresAt - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expectExit(await onB(made.token, ["policy", "list", "ssh.a.test"]));
    const write = await onB(made.token, ["app", "add", "new.a.test"]);
    expect(write.code).toBe(77);
    expect(write.stderr).toContain(`the admin token "ro-a" is read-only`);
  }, 30_000);

  test("revoked through A, refused by B on the next request; list shows the rest", async () => {
    const made = JSON.parse(await a.admin(["admin-token", "create", "doomed", "--json"])) as { token: string; id: string };
    expectExit(await onB(made.token, ["zone", "list"]));
    expect(await a.admin(["admin-token", "revoke", "doomed"])).toContain(`revoked admin token doomed (${made.id})`);
    const after = await onB(made.token, ["zone", "list"]);
    expect(after.code).toBe(77);
    expect(after.stderr).toContain("the admin token was refused");
    const list = await b.admin(["admin-token", "list"]);
    expect(list).toMatch(/^ID\s+NAME\s+ZONE\s+ACCESS\s+EXPIRES\s+CREATED$/m);
    expect(list).toMatch(/\sbootstrap\s+\(edge\)\s+read-write\s+never\s/);
    expect(list).toMatch(/\sro-a\s+a\.test\s+read-only\s+\d{4}-/);
    expect(list).not.toContain("doomed");
  }, 30_000);

  test("sessions on B: through A a zone admin's token and console list theirs only, and the console revokes one; the peer path takes only the cluster secret", async () => {
    const origin = serveOrigin();
    const conns: TcpClient[] = [];
    try {
      await b.proc.waitForLine(/the zones in the store changed \(now: a\.test b\.test\)/, { stream: "stderr", timeoutMs: 10_000 });
      /** A live session through node B to `host`, echoing. */
      const live = async (host: string) => {
        const name = `live-${host}`;
        const t = JSON.parse(await a.admin(["token", "create", name, "--json"])) as { id: string; secret: string };
        await a.admin(["policy", "add", host, "--name", name, "--action", "allow", "--include", `token:${name}`]);
        await b.tunnel(host, `tcp://127.0.0.1:${origin.port}`, ["--ha-connections", "1"]);
        const { port } = await b.accessTcp(host, { ...t, name });
        const echoed = Promise.withResolvers<void>();
        const conn = await connectTcp(port, (c) => new TextDecoder().decode(c).includes("ping") && echoed.resolve());
        conns.push(conn);
        await conn.write(new TextEncoder().encode(`${Mode.echo}ping`));
        await echoed.promise;
        return conn;
      };
      const mine = await live("ssh.a.test");
      await live("ssh.b.test");
      const all = JSON.parse(await a.admin(["session", "list", "--json"])) as { id: string; host: string }[];
      expect(all.map((s) => s.host).sort()).toEqual(["ssh.a.test", "ssh.b.test"]);
      const [ours, theirs] = ["ssh.a.test", "ssh.b.test"].map((h) => all.find((s) => s.host === h)!);

      // a zone admin's token through A: B's session in a.test, none of b.test's
      const zoneToken = (JSON.parse(await a.admin(["admin-token", "create", "sessions-a", "--zone", "a.test", "--json"])) as { token: string }).token;
      expect(JSON.parse(expectExit(await on(a, zoneToken, ["session", "list", "--json"])).stdout)).toMatchObject([{ id: ours!.id, host: "ssh.a.test" }]);
      // the console through A, signed in with a cookie: the same
      const alice = await client(a, "10.28.0.1");
      const pinId = pinIdIn((await alice.askPin("alice@a.test")).text)!;
      expect((await alice.guess(pinId, await pinFromLog(a, "alice@a.test"))).status).toBe(303);
      const page = await alice.get("/admin/sessions");
      expect(page.status).toBe(200);
      expect(page.text).toContain(ours!.id);
      expect(page.text).not.toContain(theirs!.id);

      // the peer path: refused without the cluster secret, whoever asks; with it, every zone's
      const peerAsk = (token?: string) => fetch(`${a.url}${PEER_SESSIONS_PATH}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, tls: { ca: readFileSync(a.caFile, "utf8") } });
      const edgeToken = readFileSync(join(a.dataDir, "admin-token"), "utf8").trim();
      for (const token of [undefined, zoneToken, edgeToken, "wrong"]) {
        const r = await peerAsk(token);
        expect({ token, status: r.status, body: await r.json() }).toEqual({ token, status: 401, body: { error: "this path is for the edge's own nodes: it needs the cluster secret" } });
      }
      await using store = await openStore({ url: db.url });
      const peer = await peerAsk(await clusterSecret(store));
      expect(peer.status).toBe(200);
      expect(((await peer.json()) as { sessions: unknown[] }).sessions).toEqual([]); // A holds none itself
      const viaB = await fetch(`${b.url}${PEER_SESSIONS_PATH}`, { headers: { authorization: `Bearer ${await clusterSecret(store)}` }, tls: { ca: readFileSync(b.caFile, "utf8") } });
      expect((((await viaB.json()) as { sessions: { host: string }[] }).sessions).map((s) => s.host).sort()).toEqual(["ssh.a.test", "ssh.b.test"]);

      // revoked in the console on A: B ends it; the other zone's is not the zone admin's to end
      const refused = await on(a, zoneToken, ["session", "revoke", theirs!.id]);
      expect(refused.code).toBe(77);
      const form = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
      const revoked = await alice.send("/admin/do/session-revoke", { csrf: form, id: ours!.id });
      expect(revoked.status).toBe(200);
      expect(revoked.text).toContain(`Revoked the session ${ours!.id}; the node that holds it ends it within a second.`);
      await mine.ended;
      expect(JSON.parse(await a.admin(["session", "list", "--json"]))).toMatchObject([{ id: theirs!.id }]);
    } finally {
      for (const c of conns) c.close();
      origin.stop(true);
    }
  }, 60_000);
  test("a node that does not answer: an edge admin is told where it is and why; a zone admin (CLI and console) only that one node is missing", async () => {
    await using store = await openStore({ url: db.url });
    const peerUrl = `https://127.0.0.1:${freePort()}`; // nothing listens: refused at once
    await registerNode(store, { id: "node-gone", peerUrl, version: "0.0.0" });
    try {
      const ca = readFileSync(a.caFile, "utf8");
      const ask = async (token: string) => (await (await fetch(`${a.url}/api/v1/sessions`, { headers: { authorization: `Bearer ${token}` }, tls: { ca } })).json()) as { unreachable: Record<string, string>[] };
      const edgeToken = readFileSync(join(a.dataDir, "admin-token"), "utf8").trim();
      expect((await ask(edgeToken)).unreachable).toMatchObject([{ node: "node-gone", peerUrl }]);
      const zoneToken = (JSON.parse(await a.admin(["admin-token", "create", "sessions-a-read", "--zone", "a.test", "--read-only", "--json"])) as { token: string }).token;
      const told = (await ask(zoneToken)).unreachable;
      expect(told).toEqual([{ node: "node-gone", error: "did not answer; an edge admin sees why with wicket edge session list" }]);
      // and the CLI says so in its one line
      const r = expectExit(await on(a, zoneToken, ["session", "list"]));
      expect(r.stdout).toContain("node node-gone is not listed: did not answer");
      expect(r.stdout + r.stderr).not.toContain(peerUrl);
      // and the console's sessions page names the node its list lacks
      const alice = await client(a, "10.28.0.2");
      const pinId = pinIdIn((await alice.askPin("alice@a.test")).text)!;
      expect((await alice.guess(pinId, await pinFromLog(a, "alice@a.test"))).status).toBe(303);
      const page = await alice.get("/admin/sessions");
      expect(page.text).toContain("Not listed: the sessions on node <code>node-gone</code> (did not answer; an edge admin sees why with wicket edge session list).");
      expect(page.text).not.toContain(peerUrl);
    } finally {
      await removeNode(store, "node-gone");
    }
  }, 60_000);
});

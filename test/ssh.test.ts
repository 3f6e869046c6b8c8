// The core path end to end: real sshd, real ssh/scp/git/rsync, the compiled wicket as
// ProxyCommand, an edge and connectors started by the test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile, readFile } from "node:fs/promises";
import { expectExit, run, spawnProc } from "./helpers/proc.ts";
import { startSshd, type Sshd, type SshClient } from "./helpers/sshd.ts";
import type { TempDir } from "./helpers/tmp.ts";
import { startRig, type AppRig } from "./helpers/rig.ts";
import { git } from "./helpers/git.ts";
import { freePort } from "./helpers/ports.ts";
import { wicket, WICKET, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

const HOST = "ssh.site.test";
let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let token: ServiceToken;
let client: SshClient;
let rig: AppRig;

const sha256 = async (path: string) => new Bun.CryptoHasher("sha256").update(await readFile(path)).digest("hex");

beforeAll(async () => {
  // sshd drops unauthenticated connections beyond 10 by default
  rig = await startRig({ prefix: "wicket-ssh-", sshd: { config: ["MaxStartups 100"] }, app: HOST });
  ({ dir, sshd, edge, token, client } = rig);
});

afterAll(() => rig?.[Symbol.asyncDispose]());

describe("ssh through the tunnel", () => {
  test("a remote command's output and exit status come back", async () => {
    const r = await run(["ssh", ...client.args, HOST, "echo ok; exit 7"]);
    expect(r.stdout).toBe("ok\n");
    expect(r.code).toBe(7);
  });

  test("scp of a 64 MiB random file up and back is byte-identical", async () => {
    const src = dir.join("up.bin");
    // getRandomValues fills at most 64 KiB at a time
    const buf = new Uint8Array(64 * 1024 * 1024);
    for (let o = 0; o < buf.byteLength; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
    await writeFile(src, buf);
    const remote = `${sshd.dir}/scp-remote.bin`;
    expectExit(await run(["scp", "-q", ...client.args, src, `${HOST}:${remote}`], { timeoutMs: 60_000 }));
    const back = dir.join("back.bin");
    expectExit(await run(["scp", "-q", ...client.args, `${HOST}:${remote}`, back], { timeoutMs: 60_000 }));
    expect(await sha256(back)).toBe(await sha256(src));
    expect(await sha256(remote)).toBe(await sha256(src));
  });

  test("git clone and push over SSH to a bare repository", async () => {
    const bare = `${sshd.dir}/repo.git`;
    expectExit(await git(["init", "-q", "--bare", "-b", "main", bare]));
    const work = dir.join("work");
    expectExit(await git(["clone", "-q", `${HOST}:${bare}`, work], { ssh: client.command }));
    await writeFile(`${work}/README`, "hello through wicket\n");
    expectExit(await git(["-C", work, "add", "README"]));
    expectExit(await git(["-C", work, "-c", "user.email=t@site.test", "-c", "user.name=t", "commit", "-q", "-m", "first"]));
    expectExit(await git(["-C", work, "push", "-q", "origin", "HEAD:main"], { ssh: client.command }));
    const again = dir.join("again");
    expectExit(await git(["clone", "-q", `${HOST}:${bare}`, again], { ssh: client.command }));
    expect(await readFile(`${again}/README`, "utf8")).toBe("hello through wicket\n");
  });

  test("rsync over the tunnel copies a tree", async () => {
    const src = dir.join("tree");
    await Bun.write(`${src}/a/b.txt`, "b\n");
    await Bun.write(`${src}/c.txt`, "c".repeat(100_000));
    expectExit(await run(["rsync", "-a", "-e", client.command, `${src}/`, `${HOST}:${sshd.dir}/tree-copy/`]));
    expect(await readFile(`${sshd.dir}/tree-copy/a/b.txt`, "utf8")).toBe("b\n");
    expect((await readFile(`${sshd.dir}/tree-copy/c.txt`, "utf8")).length).toBe(100_000);
  });

  test("20 ssh sessions at once through one connector each get their own answer", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => run(["ssh", ...client.args, HOST, `echo session-${i}; exit ${i % 5}`])));
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`session-${i}\n`);
      expect(r.code).toBe(i % 5);
    });
  });

  test("stdin's end reaches the origin (half-close) and the output still comes back", async () => {
    const r = await run(["ssh", ...client.args, HOST, "wc -c"], { stdin: "x".repeat(300_000) });
    expectExit(r);
    expect(r.stdout.trim()).toBe("300000");
  });

  test("wicket access tcp carries a local port to the application", async () => {
    const port = freePort();
    await using local = spawnProc([WICKET, "access", "tcp", "--hostname", HOST, "--url", `127.0.0.1:${port}`, "--edge", edge.url, "--ca-file", edge.caFile, "--id", token.id, "--secret", token.secret], { name: "access tcp" });
    await local.waitForLine(/listening on/, { stream: "stderr" });
    const direct = await sshd.client("tcp-local", { config: [`HostName 127.0.0.1`, `Port ${port}`] });
    const r = await run(["ssh", ...direct.args, "tcp-local", "echo via-tcp"]);
    expectExit(r);
    expect(r.stdout).toBe("via-tcp\n");
  });

  test("the printed ssh-config stanza works as printed", async () => {
    const r = expectExit(await wicket(["access", "ssh-config", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile]));
    expect(r.stdout).toStartWith(`Host ${HOST}\n\tProxyCommand ${WICKET} access ssh --hostname %h`);
    const proxy = r.stdout.split("\n")[1]!.replace(/^\tProxyCommand /, "");
    const c = await sshd.client(HOST, { proxyCommand: `${proxy} --id ${token.id} --secret ${token.secret}` });
    expect((await run(["ssh", ...c.args, HOST, "echo stanza"])).stdout).toBe("stanza\n");
  });

  test("a browser on the SSH hostname gets a page that explains how to connect", async () => {
    const r = await run(["curl", "-sS", "--cacert", edge.caFile, "--resolve", `${HOST}:${edge.port}:127.0.0.1`, `https://${HOST}:${edge.port}/`]);
    expectExit(r);
    expect(r.stdout).toContain("serves SSH");
    expect(r.stdout).toContain(`wicket access ssh-config --hostname ${HOST}`);
    expect(r.stdout).toContain("ProxyCommand");
  });
});

describe("failures are quick, one line, and have their exit code", () => {
  /** Runs `wicket access ssh` directly, as ssh would, with stdin closed. */
  async function accessSsh(hostname: string, extra: string[], edgeUrl = edge.url) {
    const started = performance.now();
    const r = await wicket(["access", "ssh", "--hostname", hostname, "--edge", edgeUrl, "--ca-file", edge.caFile, ...extra], { timeoutMs: 10_000 });
    return { ...r, ms: performance.now() - started };
  }
  const oneLine = (s: string) => s.trim().split("\n").length === 1;

  test("a wrong secret: 77, and the message says the token was refused", async () => {
    const r = await accessSsh(HOST, ["--id", token.id, "--secret", "wrong"]);
    expect(r.code).toBe(77);
    expect(r.stderr).toContain("service token was refused");
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stdout).toBe("");
    expect(r.ms).toBeLessThan(2000);
  });

  test("a valid token that no policy allows: 77, denied", async () => {
    const other = JSON.parse(await edge.admin(["token", "create", "not-in-policy", "--json"]));
    const r = await accessSsh(HOST, ["--id", other.id, "--secret", other.secret]);
    expect(r.code).toBe(77);
    expect(r.stderr).toContain("denied");
    expect(r.ms).toBeLessThan(2000);
  });

  test("an unknown hostname in a served zone: 78, no application", async () => {
    const r = await accessSsh("nope.site.test", ["--id", token.id, "--secret", token.secret]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("no application at nope.site.test");
    expect(r.ms).toBeLessThan(2000);
  });

  test("a hostname outside every zone: 69, the certificate is not for it", async () => {
    const r = await accessSsh("ssh.elsewhere.test", ["--id", token.id, "--secret", token.secret]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("not valid for ssh.elsewhere.test");
  });

  test("an edge that is down: 69, cannot reach", async () => {
    const r = await accessSsh(HOST, ["--id", token.id, "--secret", token.secret], `https://127.0.0.1:${freePort()}`);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("cannot reach");
    expect(r.ms).toBeLessThan(2000);
  });

  test("an edge whose CA is not trusted: 69, with the --ca-file hint", async () => {
    const r = await wicket(["access", "ssh", "--hostname", HOST, "--edge", edge.url, "--id", token.id, "--secret", token.secret]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("--ca-file");
  });

  test("a hostname with no connector: 75", async () => {
    const t = await edge.app("idle.site.test");
    const r = await accessSsh("idle.site.test", ["--id", t.id, "--secret", t.secret]);
    expect(`${r.code} ${r.stderr}`).toStartWith("75 ");
    expect(r.stderr).toContain("no connector is online for idle.site.test");
    expect(r.ms).toBeLessThan(2000);
  });

  test("a connector that cannot reach its origin: the message names the origin", async () => {
    const t = await edge.app("dead.site.test");
    const deadPort = freePort();
    await edge.tunnel("dead.site.test", `tcp://127.0.0.1:${deadPort}`);
    const r = await accessSsh("dead.site.test", ["--id", t.id, "--secret", t.secret]);
    expect(r.code).toBe(75);
    expect(r.stderr).toContain(`tcp://127.0.0.1:${deadPort}`);
    expect(r.ms).toBeLessThan(2000);
  });

  test("a connector claiming a hostname outside its zone is refused", async () => {
    const cert = await edge.tunnelCert("site.test");
    const r = await wicket(["tunnel", "--hostname", "ssh.other.test", "--url", "ssh://127.0.0.1:22", "--origincert", cert]);
    expect(r.code).toBe(77);
    expect(r.stderr).toContain("outside the zone site.test");
  });

  test("half a service token is a usage error: 64", async () => {
    const r = await accessSsh(HOST, ["--id", token.id]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--id and --secret");
  });
});

describe("two connectors, two hostnames, one edge", () => {
  test("each hostname reaches its own origin", async () => {
    await using sshd2 = await startSshd();
    const t2 = await edge.app("git.site.test");
    await edge.tunnel("git.site.test", `ssh://127.0.0.1:${sshd2.port}`);
    const c2 = await sshd2.client("git.site.test", { proxyCommand: edge.proxyCommand(t2) });
    const [a, b] = await Promise.all([run(["ssh", ...client.args, HOST, "echo $SSH_CONNECTION"]), run(["ssh", ...c2.args, "git.site.test", "echo $SSH_CONNECTION"])]);
    expectExit(a);
    expectExit(b);
    expect(a.stdout.trim().split(" ")[3]).toBe(String(sshd.port));
    expect(b.stdout.trim().split(" ")[3]).toBe(String(sshd2.port));
  });
});

// Resumable streams end to end (issue 30, docs/resume.md): a real sshd and the real ssh, with
// the compiled wicket as ProxyCommand, keep their session through a cut in the middle — the
// client's link to the edge, the edge itself killed and restarted, the connector's link — and
// a resume is a new decision that a revoked identity, a replayed ticket or another application
// does not pass.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startConnector } from "./helpers/connector.ts";
import { startFaultProxy, type FaultProxy } from "./helpers/faultproxy.ts";
import { freePort } from "./helpers/ports.ts";
import { spawnProc, type Proc } from "./helpers/proc.ts";
import { startSshd, type Sshd, type SshClient } from "./helpers/sshd.ts";
import { randomFile as randomFileAt, tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

let dir: TempDir;
let sshd: Sshd;
let upload: { path: string; sha: string };

beforeAll(async () => {
  dir = await tempDir("wicket-resume-");
  sshd = await startSshd();
  upload = await randomFile("up-256.bin", 256);
});
afterAll(async () => {
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

const COUNT = 60; // a line every 100 ms: six seconds of session

/** A file of `mib` MiB of random bytes in the test's folder, and its SHA-256. */
async function randomFile(name: string, mib: number): Promise<{ path: string; sha: string }> {
  const path = dir.join(name);
  return { path, sha: await randomFileAt(path, mib) };
}

/** Two sessions at once, through `proxy` (which only watches them): a counter, and the upload
 * piped through sha256sum on the server. Resolves once both are under way: the counter has
 * printed, and 32 of the 256 MiB went up. */
async function sessions(client: SshClient, host: string, proxy: FaultProxy): Promise<{ counter: Proc; copy: Proc }> {
  const counter = spawnProc(["ssh", ...client.args, host, `for i in $(seq 1 ${COUNT}); do echo $i; sleep 0.1; done`], { name: "ssh counter" });
  await counter.waitForLine(/^3$/, { stream: "stdout" });
  const copy = spawnProc(["ssh", ...client.args, host, "sha256sum"], { name: "ssh upload", stdin: Bun.file(upload.path) });
  await proxy.until(() => proxy.conns.reduce((n, c) => n + c.bytesUp, 0) > 32 << 20, "32 MiB of the upload through the proxy", 30_000);
  return { counter, copy };
}

/** The ProxyCommand for `edge` through `proxy`, logging at info. */
const through = (edge: TestEdge, token: ServiceToken, proxy: FaultProxy) => edge.proxyCommand(token, ["--loglevel", "info"]).replace(edge.url, proxy.url);

/** Both sessions ended well: every counter line once and in order, the checksum, exit 0, and the client said it resumed. */
async function expectSurvived(what: string, s: { counter: Proc; copy: Proc }, sha = upload.sha) {
  expect(await s.counter.exited, s.counter.output()).toBe(0);
  expect(await s.copy.exited, s.copy.output()).toBe(0);
  expect(s.counter.stdout().trim().split("\n")).toEqual(Array.from({ length: COUNT }, (_, i) => String(i + 1)));
  expect(s.copy.stdout().trim().split(/\s+/)[0]).toBe(sha);
  expect(s.counter.stderr()).toMatch(/connection to the edge lost; resuming \(attempt 1\)/);
  expect(s.counter.stderr()).toMatch(/resumed after \d+\.\d s/);
  const gaps = [s.counter, s.copy].map((p) => /resumed after (\d+\.\d) s/.exec(p.stderr())?.[1] ?? "-");
  console.error(`${what}: counter resumed after ${gaps[0]} s, upload after ${gaps[1]} s`);
}

describe("an ssh session survives a cut in the middle", () => {
  let edge: TestEdge;
  let token: ServiceToken;
  const HOST = "ssh.site.test";

  beforeAll(async () => {
    edge = await startEdge({ dir: await tempDir("wicket-resume-edge-") });
    token = await edge.app(HOST);
    await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
  });
  afterAll(async () => {
    await edge?.[Symbol.asyncDispose]();
  });

  test("the client's link to the edge is cut: both sessions resume, nothing lost or repeated", async () => {
    await using proxy = await startFaultProxy({ port: edge.port });
    const client = await sshd.client(HOST, { proxyCommand: through(edge, token, proxy) });
    const s = await sessions(client, HOST, proxy);
    for (const c of proxy.live()) c.cut();
    await expectSurvived("client-edge cut", s);
  });
});

describe("an ssh session survives the edge or the connector's link", () => {
  test("the edge is killed with SIGKILL and restarted on its address: a 256 MiB upload and the counter go on", async () => {
    await using own = await tempDir("wicket-resume-kill-");
    const port = freePort(); // the restarted edge must listen where the first one did
    const first = await startEdge({ dir: own, port });
    const host = "kill.site.test";
    try {
      const tok = await first.app(host);
      await using t = await startConnector(first, ["--hostname", host, "--url", `ssh://127.0.0.1:${sshd.port}`], { wait: 1 });
      await using watch = await startFaultProxy({ port });
      const client = await sshd.client(host, { proxyCommand: through(first, tok, watch) });
      const s = await sessions(client, host, watch);
      first.proc.kill("SIGKILL");
      expect(await first.proc.exited).toBe(137);
      await t.proc.waitForLine(/lost its path/, { stream: "stderr" });
      await using second = await startEdge({ dir: own, port });
      await expectSurvived("edge SIGKILL", s);
      expect(t.proc.stderr()).toMatch(/stream \S+ resumed \(cut 1\)/);
      await second.stop();
    } finally {
      await first.stop();
    }
  });

  test("the connector's link to the edge is cut: the connector keeps the origin and the session resumes", async () => {
    await using edge = await startEdge({ dir: await tempDir("wicket-resume-link-") });
    const host = "link.site.test";
    const tok = await edge.app(host);
    await using proxy = await startFaultProxy({ port: edge.port });
    await using t = await startConnector(edge, ["--hostname", host, "--url", `ssh://127.0.0.1:${sshd.port}`, "--edge", proxy.url, "--ha-connections", "1"], { wait: 1 });
    await using watch = await startFaultProxy({ port: edge.port });
    const client = await sshd.client(host, { proxyCommand: through(edge, tok, watch) });
    const s = await sessions(client, host, watch);
    for (const c of proxy.live()) c.cut();
    await t.proc.waitForLine(/lost its path/, { stream: "stderr" });
    await expectSurvived("connector-edge cut", s);
  });
});

describe("a rolling upgrade drops nothing", () => {
  test("edge serve on SIGTERM tells resumable clients to resume elsewhere at once; a new edge on its address takes the sessions over", async () => {
    await using own = await tempDir("wicket-resume-term-");
    const port = freePort();
    const first = await startEdge({ dir: own, port });
    const host = "term.site.test";
    try {
      const tok = await first.app(host);
      await using t = await startConnector(first, ["--hostname", host, "--url", `ssh://127.0.0.1:${sshd.port}`], { wait: 1 });
      await using watch = await startFaultProxy({ port });
      const client = await sshd.client(host, { proxyCommand: through(first, tok, watch) });
      const s = await sessions(client, host, watch);
      const began = performance.now();
      first.proc.kill("SIGTERM");
      await first.proc.waitForLine(/told 2 client\(s\) with resumable streams to resume elsewhere/, { stream: "stderr" });
      // it exits once its connectors moved, long before its 30 s grace would have cut the sessions
      expect(await first.proc.exited).toBe(0);
      expect(performance.now() - began, first.proc.output()).toBeLessThan(15_000);
      await using second = await startEdge({ dir: own, port });
      await expectSurvived("edge SIGTERM", s);
      expect(t.proc.stderr()).toMatch(/stream \S+ resumed \(cut 1\)/);
      await second.stop();
    } finally {
      await first.stop();
    }
  });
});

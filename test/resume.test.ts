// Resumable streams end to end (issue 30, docs/resume.md): a real sshd and the real ssh, with
// the compiled wicket as ProxyCommand, keep their session through a cut in the middle — the
// client's link to the edge, the edge itself killed and restarted, the connector's link — and
// a resume is a new decision that a revoked identity, a replayed ticket or another application
// does not pass.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AuditRecord } from "../lib/store/index.ts";
import { startConnector, type Connector } from "./helpers/connector.ts";
import { startFaultProxy, type FaultProxy } from "./helpers/faultproxy.ts";
import { freePort } from "./helpers/ports.ts";
import { spawnProc, type Proc } from "./helpers/proc.ts";
import { startSshd, type Sshd, type SshClient } from "./helpers/sshd.ts";
import { randomFile as randomFileAt, tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

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

    // the audit shows each session once: its decision lists its resumption (when, from where,
    // the gap), and `--session` shows that session alone, with the end of each of its paths
    const records = JSON.parse(`[${(await edge.admin(["audit", "--host", HOST, "--json"])).trim().split("\n").join(",")}]`) as AuditRecord[];
    const starts = records.filter((r) => r.kind === "decision" && r.allowed);
    expect(starts, JSON.stringify(records)).toHaveLength(2);
    for (const r of starts) {
      expect(r.resumes).toBeUndefined();
      expect(r.resumptions).toEqual([{ at: expect.any(Number), from: "127.0.0.1", gapMs: expect.any(Number), sessionId: expect.stringMatching(/^ses_/) }]);
      expect(r.resumptions![0]!.gapMs!).toBeLessThan(30_000);
    }
    const one = await edge.admin(["audit", "--session", starts[0]!.sessionId!]);
    const lines = one.trim().split("\n");
    expect(lines[0], one).toMatch(new RegExp(`allow +${HOST.replace(/\./g, "\\.")} .*${starts[0]!.sessionId}.*; resumed \\S+Z from 127\\.0\\.0\\.1 after \\S+$`));
    expect(lines.slice(1).every((l) => / end {5}/.test(l)), one).toBe(true);
    expect(lines.length, one).toBe(3); // the end of the first path (it may resume) and of the last
  });
});

describe("an application's resume-grace", () => {
  let edge: TestEdge;
  const connectors: Connector[] = [];
  let connector: Connector;
  const OFF = "off.site.test";
  const SHORT = "short.site.test";
  const tokens: Record<string, ServiceToken> = {};

  beforeAll(async () => {
    edge = await startEdge({ dir: await tempDir("wicket-resume-grace-") });
    for (const [host, grace] of [[OFF, "0"], [SHORT, "2s"]] as const) {
      tokens[host] = await edge.app(host);
      await edge.admin(["app", "edit", host, "--resume-grace", grace]);
      connectors.push(await startConnector(edge, ["--hostname", host, "--url", `ssh://127.0.0.1:${sshd.port}`], { wait: 1 }));
    }
    connector = connectors[1]!;
  });
  afterAll(async () => {
    for (const c of connectors) await c[Symbol.asyncDispose]();
    await edge?.[Symbol.asyncDispose]();
  });

  /** A session that prints a line every 100 ms for a minute, through `proxy`, under way. */
  async function counter(host: string, proxy: FaultProxy): Promise<Proc> {
    const client = await sshd.client(host, { proxyCommand: through(edge, tokens[host]!, proxy) });
    const p = spawnProc(["ssh", ...client.args, host, "for i in $(seq 1 600); do echo $i; sleep 0.1; done"], { name: `ssh ${host}` });
    await p.waitForLine(/^3$/, { stream: "stdout" });
    return p;
  }

  test("0: the stream is not resumable, and a cut of the client's link ends the session as before", async () => {
    await using proxy = await startFaultProxy({ port: edge.port });
    const p = await counter(OFF, proxy);
    for (const c of proxy.live()) c.cut();
    expect(await p.exited, p.output()).toBe(255);
    expect(p.stderr()).toContain(`the connection to the edge for ${OFF} was lost`);
    expect(p.stderr()).not.toContain("resuming");
  });

  test("2s: a cut longer than the grace ends the session, and the client says why", async () => {
    await using proxy = await startFaultProxy({ port: edge.port });
    const p = await counter(SHORT, proxy);
    // the client cannot come back: the proxy takes no more connections
    await proxy.stop(true);
    await connector.proc.waitForLine(new RegExp(`lost its path .*keeping its origin for 2 s`), { stream: "stderr" });
    expect(await p.exited, p.output()).toBe(255);
    expect(p.stderr()).toMatch(/connection to the edge lost; resuming \(attempt 1\)/);
    expect(p.stderr()).toContain(`cannot resume the session to ${SHORT}: not back within its grace period of 2s`);
  });

  test("app list and --json show the grace; a bad one is refused in one sentence", async () => {
    const apps = JSON.parse(await edge.admin(["app", "list", "--json"])) as { hostname: string; resumeGraceMs: number; resumeGraceSet: boolean }[];
    expect(apps.map((a) => [a.hostname, a.resumeGraceMs, a.resumeGraceSet])).toEqual([
      [OFF, 0, true],
      [SHORT, 2000, true],
    ]);
    expect(await edge.admin(["app", "list"])).toMatch(new RegExp(`${OFF.replace(/\./g, "\\.")} .* off  `));
    expect(await edge.admin(["app", "edit", SHORT, "--resume-grace", "90s"])).toContain("; resume grace 90s;");
    expect(await edge.admin(["app", "edit", SHORT, "--resume-grace", "default"])).not.toContain("resume grace");
    expect(await edge.admin(["app", "list"])).toMatch(/short\.site\.test .* 2m \(default\)  /);
    const bad = await wicket(["edge", "app", "edit", SHORT, "--resume-grace", "soon", "--data-dir", edge.dataDir]);
    expect([bad.code, bad.stderr.trim()]).toEqual([64, 'error: --resume-grace "soon" is not a duration; use for example 30s, 2m, 24h or 90d']);
    const long = await wicket(["edge", "app", "edit", SHORT, "--resume-grace", "1h", "--data-dir", edge.dataDir]);
    expect([long.code, long.stderr.trim()]).toEqual([64, "error: the resume grace must be from 0 (not resumable) to 5 minutes, e.g. 2m or 90s"]);
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

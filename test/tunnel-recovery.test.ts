// A connector and an edge left running: what happens when the network between them breaks,
// the edge dies, the origin is down, the connector is told to stop, or a session sits idle.
// A fault-injecting TCP proxy (helpers/faultproxy.ts) sits between connector and edge where
// a test needs to cut, stall or slow one connection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startConnector } from "./helpers/connector.ts";
import { startFaultProxy } from "./helpers/faultproxy.ts";
import { metricsUrl, ready, scrape } from "./helpers/metrics.ts";
import { freePort } from "./helpers/ports.ts";
import { expectExit, run, spawnProc, type Proc } from "./helpers/proc.ts";
import type { SshClient, Sshd } from "./helpers/sshd.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startRig, type AppRig } from "./helpers/rig.ts";
import { startEdge, WICKET, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

const HOST = "ssh.site.test";
let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let edgeMetrics: string;
let token: ServiceToken;
let client: SshClient;
let rig: AppRig;

beforeAll(async () => {
  // the tests start their own connectors
  rig = await startRig({ prefix: "wicket-recovery-", sshd: { config: ["MaxStartups 100"] }, edge: ["--metrics", "127.0.0.1:0"], app: HOST, tunnel: false });
  ({ dir, sshd, edge, token, client } = rig);
  edgeMetrics = await metricsUrl(edge.proc);
});

afterAll(() => rig?.[Symbol.asyncDispose]());

const origin = () => `ssh://127.0.0.1:${sshd.port}`;

/** An interactive ssh session that prints `ready`, waits for a line and echoes it back. */
async function openSession(c: SshClient = client, name = "ssh session"): Promise<Proc & { finish(word: string): Promise<{ code: number; out: string }> }> {
  const p = spawnProc(["ssh", ...c.args, c.host, "echo ready; read word; echo got-$word"], { stdin: "pipe", name });
  await p.waitForLine(/^ready$/, { stream: "stdout", timeoutMs: 20_000 });
  return Object.assign(p, {
    async finish(word: string) {
      if (p.exitCode === undefined) {
        p.stdin!.write(`${word}\n`);
        await p.stdin!.flush();
        await p.stdin!.end();
      }
      const code = await p.exited;
      return { code, out: p.stdout() };
    },
  });
}

describe("connections come back by themselves", () => {
  test("cut one of four connections: the other three's sessions go on, new ssh works at once, the fourth comes back", async () => {
    await using proxy = await startFaultProxy({ port: edge.port });
    // debug: the connector logs each stream's close, which the end waits for
    await using t = await startConnector(edge, ["--hostname", HOST, "--url", origin(), "--edge", proxy.url, "--ha-connections", "4", "--loglevel", "debug"], { wait: 4 });
    const conns = await proxy.waitForConnections(4);
    const before = await scrape(edgeMetrics);

    // one at a time: the edge gives each new stream to the least-loaded connection, two each
    const sessions = [];
    for (let i = 0; i < 8; i++) sessions.push(await openSession(client, `ssh session ${i}`));
    expect((await scrape(t.metrics)).get("wicket_tunnel_streams_open")).toBe(8);

    conns[2]!.cut();
    // the two sessions on the cut connection resume (docs/resume.md): the connector kept their
    // origins, and their clients came back through the other connections

    // new sessions succeed at once, on the three connections left
    const fresh = await Promise.all([0, 1, 2, 3].map((i) => ssh(client, HOST, `echo fresh-${i}`)));
    fresh.forEach((r, i) => expect(r.stdout).toBe(`fresh-${i}\n`));

    // all eight sessions finish their command
    const done = await Promise.all(sessions.map((s, i) => s.finish(`w${i}`)));
    done.forEach((d, i) => expect(d).toEqual({ code: 0, out: `ready\ngot-w${i}\n` }));
    expect(t.proc.stderr().match(/resumed \(cut 1\)/g)?.length).toBe(2);

    // and the fourth connection is back
    await t.proc.waitForLine(/connection \d+ to \S+ lost \(.*\); reconnecting/, { stream: "stderr" });
    await t.registered(1);
    await proxy.waitForConnections(4);
    await t.streamsClosed();
    const m = await scrape(t.metrics);
    expect(m.get("wicket_tunnel_connections")).toBe(4);
    expect(m.get("wicket_tunnel_connections_lost_total", { reason: "closed" })).toBe(1);
    expect(m.get("wicket_tunnel_reconnects_total")).toBeGreaterThanOrEqual(1);
    expect(m.get("wicket_tunnel_streams_total")).toBe(12);
    expect(m.get("wicket_tunnel_streams_open")).toBe(0);
    expect(m.get("wicket_tunnel_bytes_total", { direction: "from_origin" })).toBeGreaterThan(0);
    expect((await ready(t.metrics)).body).toMatchObject({ ready: true, connections: 4 });
    const e = await scrape(edgeMetrics);
    expect(e.get("wicket_edge_connector_disconnects_total", { reason: "closed" }) - before.get("wicket_edge_connector_disconnects_total", { reason: "closed" })).toBe(1);
    // twelve streams, and two resumes, each a decision and a stream of its own at the edge
    expect(e.get("wicket_edge_streams_total") - before.get("wicket_edge_streams_total")).toBe(14);
    expect(e.get("wicket_edge_decisions_total", { decision: "allow" }) - before.get("wicket_edge_decisions_total", { decision: "allow" })).toBe(14);
    expect(e.get("wicket_edge_resumes_total", { result: "resumed" }) - before.get("wicket_edge_resumes_total", { result: "resumed" })).toBe(2);
  });

  test("a stalled connection (no bytes, no close) is declared dead and replaced within 10 s, on both ends", async () => {
    await using proxy = await startFaultProxy({ port: edge.port });
    // default keepalive: the bound must hold without tuning
    await using t = await startConnector(edge, ["--hostname", HOST, "--url", origin(), "--edge", proxy.url, "--ha-connections", "2"], { wait: 2 });
    const [stalled] = await proxy.waitForConnections(2);
    const before = await scrape(edgeMetrics);

    const started = performance.now();
    stalled!.stall();
    const [, index] = await t.proc.waitForLine(/connection (\d+) to \S+ lost \(peer stopped answering/, { stream: "stderr", timeoutMs: 15_000 });
    const detected = performance.now() - started;
    await t.proc.waitForLine(new RegExp(`connection ${index} registered`), { stream: "stderr", timeoutMs: 15_000 });
    const replaced = performance.now() - started;
    expect(replaced).toBeLessThan(10_000);

    // the edge noticed too, on its own keepalive (the stalled proxy passes on no close), and
    // cleaned the connection up
    await edge.proc.waitForLine(/disconnected \(peer stopped answering/, { stream: "stderr", timeoutMs: 15_000 });
    const edgeDetected = performance.now() - started;
    expect(edgeDetected).toBeLessThan(10_000);
    const e = await scrape(edgeMetrics);
    expect(e.get("wicket_edge_connector_disconnects_total", { reason: "keepalive" }) - before.get("wicket_edge_connector_disconnects_total", { reason: "keepalive" })).toBe(1);
    console.error(`stall: connector declared the connection dead after ${(detected / 1000).toFixed(1)} s and replaced it after ${(replaced / 1000).toFixed(1)} s; the edge dropped it after ${(edgeDetected / 1000).toFixed(1)} s`);
    expect((await scrape(t.metrics)).get("wicket_tunnel_connections_lost_total", { reason: "keepalive" })).toBe(1);
    const r = await ssh(client, HOST, "echo after-stall");
    expect(r.stdout).toBe("after-stall\n");
  }, 60_000);

  test("spread over several --edge URLs: connections divide between them", async () => {
    await using a = await startFaultProxy({ port: edge.port });
    await using b = await startFaultProxy({ port: edge.port });
    await using t = await startConnector(edge, ["--hostname", HOST, "--url", origin(), "--edge", a.url, "--edge", b.url, "--ha-connections", "4"], { wait: 4 });
    expect(a.live().length).toBe(2);
    expect(b.live().length).toBe(2);
    expect(t.proc.stderr()).toContain(`registered with ${a.url}`);
    expect(t.proc.stderr()).toContain(`registered with ${b.url}`);
  });
});

describe("the edge dies and comes back", () => {
  test("SIGKILL and restart: the same connector process is back and ssh works within the backoff bound", async () => {
    await using own = await tempDir("wicket-killed-edge-");
    const port = freePort();
    await using first = await startEdge({ dir: own, port });
    const tok = await first.app("kill.site.test");
    await using t = await startConnector(first, ["--hostname", "kill.site.test", "--url", origin(), "--ha-connections", "2"], { wait: 2 });
    const c = await sshd.client("kill.site.test", { proxyCommand: first.proxyCommand(tok) });
    expect((await ssh(c, "kill.site.test", "echo before")).stdout).toBe("before\n");

    first.proc.kill("SIGKILL");
    expect(await first.proc.exited).toBe(137);
    await t.proc.waitForLine(/connection \d+ to \S+ lost/, { stream: "stderr" });
    await t.proc.waitForLine(/connection \d+ to \S+ failed \(.*\); retrying/, { stream: "stderr" });

    await using second = await startEdge({ dir: own, port });
    const back = performance.now();
    await t.registered(2, 35_000);
    const r = await ssh(c, "kill.site.test", "echo after");
    const elapsed = performance.now() - back;
    expect(r.stdout).toBe("after\n");
    // full jitter never waits longer than the cap (30 s) between attempts
    expect(elapsed).toBeLessThan(30_000);
    console.error(`edge restart: connector back and ssh through it ${(elapsed / 1000).toFixed(1)} s after the edge listened again`);
    expect(t.proc.exitCode).toBeUndefined();
    const m = await scrape(t.metrics);
    expect(m.get("wicket_tunnel_connections")).toBe(2);
    expect(m.get("wicket_tunnel_connections_lost_total", { reason: "closed" })).toBe(2);
    // each lost connection came back, and one at least failed once while the edge was down
    expect(m.get("wicket_tunnel_reconnects_total")).toBeGreaterThanOrEqual(3);
  }, 60_000);

  test("--retries: a connector that cannot reach the edge gives up with 69 after that many attempts", async () => {
    const cert = await edge.tunnelCert("site.test");
    const p = spawnProc([WICKET, "tunnel", "--hostname", HOST, "--origincert", cert, "--edge", `https://127.0.0.1:${freePort()}`, "--ha-connections", "1", "--retries", "2"], { name: "tunnel" });
    expect(await p.exited).toBe(69);
    expect(p.stderr().match(/failed \(.*\); retrying/g)?.length).toBe(2);
    expect(p.stderr()).toContain("and that was the last of 2 retries (--retries): the connector stops");
  }, 30_000);
});

describe("SIGTERM drains", () => {
  test("the live session finishes its command; a new ssh goes to the other connector; the drained one exits 0", async () => {
    await using first = await startConnector(edge, ["--hostname", "drain.site.test", "--url", origin(), "--ha-connections", "2"], { wait: 2, name: "tunnel A" });
    await using second = await startConnector(edge, ["--hostname", "drain.site.test", "--url", origin(), "--ha-connections", "2"], { wait: 2, name: "tunnel B" });
    const tok = await edge.app("drain.site.test");
    const c = await sshd.client("drain.site.test", { proxyCommand: edge.proxyCommand(tok) });

    const session = await openSession(c);
    const [a, b] = await Promise.all([scrape(first.metrics), scrape(second.metrics)]);
    const [holder, other] = a.get("wicket_tunnel_streams_open") === 1 ? [first, second] : [second, first];
    expect((holder === first ? a : b).get("wicket_tunnel_streams_open")).toBe(1);
    const otherBefore = (holder === first ? b : a).get("wicket_tunnel_streams_total");

    holder.proc.kill("SIGTERM");
    await holder.proc.waitForLine(/draining: told the edge to send no new streams; 1 live stream may continue up to 30 s/, { stream: "stderr" });
    expect(await ready(holder.metrics)).toMatchObject({ status: 503, body: { ready: false, status: "draining" } });

    // new sessions go to the other connector while the first one drains
    for (let i = 0; i < 3; i++) expect((await ssh(c, "drain.site.test", `echo new-${i}`)).stdout).toBe(`new-${i}\n`);
    expect((await scrape(other.metrics)).get("wicket_tunnel_streams_total") - otherBefore).toBe(3);
    expect((await scrape(holder.metrics)).get("wicket_tunnel_streams_total")).toBe(1);

    expect(await session.finish("late")).toEqual({ code: 0, out: "ready\ngot-late\n" });
    expect(await holder.proc.exited).toBe(0);
    expect(holder.proc.stderr()).toContain("drained: every stream ended; stopping");
  }, 60_000);

  test("a second signal stops at once, without waiting for the grace period", async () => {
    await using t = await startConnector(edge, ["--hostname", "twice.site.test", "--url", origin(), "--ha-connections", "1", "--grace-period", "5m"], { wait: 1 });
    const tok = await edge.app("twice.site.test");
    // without resumption: a resumable session would wait the grace period for a connector
    // that is gone (docs/resume.md)
    const c = await sshd.client("twice.site.test", { proxyCommand: `env WICKET_RESUME=0 ${edge.proxyCommand(tok)}` });
    const session = await openSession(c);
    t.proc.kill("SIGTERM");
    await t.proc.waitForLine(/draining: .* up to 300 s; signal again to stop at once/, { stream: "stderr" });
    t.proc.kill("SIGTERM");
    expect(await t.proc.exited).toBe(75);
    expect(t.proc.stderr()).toContain("second SIGTERM: stopping at once");
    expect(await session.exited).toBe(255);
  }, 30_000);

  test("the edge on SIGTERM tells its connectors to move; they reconnect to the edge that takes its place", async () => {
    await using own = await tempDir("wicket-moving-edge-");
    const port = freePort();
    await using first = await startEdge({ dir: own, port });
    const tok = await first.app("move.site.test");
    await using t = await startConnector(first, ["--hostname", "move.site.test", "--url", origin(), "--ha-connections", "2"], { wait: 2 });
    first.proc.kill("SIGTERM");
    await first.proc.waitForLine(/told 2 connector connection\(s\) to move/, { stream: "stderr" });
    expect(await first.proc.exited).toBe(0);
    await t.proc.waitForLine(/asked connection \d+ to move \(edge is shutting down\); opening a new connection now/, { stream: "stderr" });
    await t.proc.waitForLine(/asked connection \d+ to move/, { stream: "stderr" });

    await using second = await startEdge({ dir: own, port });
    await t.registered(2, 35_000);
    const c = await sshd.client("move.site.test", { proxyCommand: second.proxyCommand(tok) });
    expect((await ssh(c, "move.site.test", "echo moved")).stdout).toBe("moved\n");
    expect((await scrape(t.metrics)).get("wicket_tunnel_connections_lost_total", { reason: "moved" })).toBe(2);
  }, 60_000);
});

describe("sessions and origins", () => {
  test("an ssh session idle for several times every timeout in the path stays usable", async () => {
    // short keepalives everywhere (edge <-> connector, edge <-> client), so that idling for
    // several of them takes seconds; sshd and ssh have no idle timeout of their own
    const keep = ["--keepalive-interval", "250ms", "--keepalive-timeout", "1s"];
    await using own = await tempDir("wicket-idle-");
    await using e = await startEdge({ dir: own, extra: [...keep, "--metrics", "127.0.0.1:0"] });
    const em = await metricsUrl(e.proc);
    const tok = await e.app("idle.site.test");
    await using proxy = await startFaultProxy({ port: e.port });
    await using t = await startConnector(e, ["--hostname", "idle.site.test", "--url", origin(), "--edge", proxy.url, "--ha-connections", "2", ...keep], { wait: 2 });
    const c = await sshd.client("idle.site.test", { proxyCommand: e.proxyCommand(tok) });
    const session = await openSession(c);

    // Idle for at least six times the longest timeout (1 s): 24 keepalive intervals of 250 ms,
    // counted as the edge's pings and pongs arriving at each connector connection. One interval
    // carries at most 84 bytes of them down (a ping and a pong, each an 18-byte frame in a
    // 2-byte WebSocket header and a 22-byte TLS record), so 24 × 84 bytes take 24 intervals at least.
    const [a, b] = (await proxy.waitForConnections(2)).map((conn) => ({ conn, from: conn.bytesDown }));
    await proxy.until(() => [a!, b!].every((x) => x.conn.bytesDown - x.from >= 24 * 84), "24 keepalive intervals on each connector connection", 30_000);

    expect(await session.finish("still-here")).toEqual({ code: 0, out: "ready\ngot-still-here\n" });
    // no connection of the path was lost (a stream whose client left as the session ended may
    // keep its origin a moment for a resume: that is the stream, not the path)
    expect(t.proc.stderr()).not.toMatch(/connection \d+ to .* lost|failed/);
    const m = await scrape(t.metrics);
    expect(m.get("wicket_tunnel_connections_lost_total", { reason: "keepalive" })).toBe(0);
    expect(m.get("wicket_tunnel_reconnects_total")).toBe(0);
    const em2 = await scrape(em);
    expect(em2.get("wicket_edge_client_keepalive_timeouts_total")).toBe(0);
    expect(em2.get("wicket_edge_connector_disconnects_total", { reason: "keepalive" })).toBe(0);
  }, 60_000);

  test("the origin is down: the client is told which, the connector stays ready, and serves again once it is back", async () => {
    const port = freePort();
    await using t = await startConnector(edge, ["--hostname", "down.site.test", "--url", `ssh://127.0.0.1:${port}`, "--ha-connections", "2"], { wait: 2 });
    const tok = await edge.app("down.site.test");
    const c = await sshd.client("down.site.test", { proxyCommand: edge.proxyCommand(tok) });

    const r = await run(["ssh", ...c.args, "down.site.test", "echo never"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain(`cannot reach origin ssh://127.0.0.1:${port}`);
    await t.proc.waitForLine(new RegExp(`cannot reach origin ssh://127\\.0\\.0\\.1:${port} for down\\.site\\.test: ECONNREFUSED; the client was told, and the next stream will try again`), { stream: "stderr" });
    expect(await ready(t.metrics)).toMatchObject({ status: 200, body: { ready: true, connections: 2 } });
    expect((await scrape(t.metrics)).get("wicket_tunnel_origin_dial_errors_total", { origin: `ssh://127.0.0.1:${port}` })).toBe(1);

    // the origin comes back on its port (a forwarder to sshd stands in for it)
    await using back = await startFaultProxy({ port: sshd.port, listenPort: port });
    expect((await ssh(c, "down.site.test", "echo back")).stdout).toBe("back\n");
    const m = await scrape(t.metrics);
    expect(m.get("wicket_tunnel_origin_dial_errors_total", { origin: `ssh://127.0.0.1:${port}` })).toBe(1);
    expect(m.get("wicket_tunnel_origin_dial_seconds_count", { origin: `ssh://127.0.0.1:${port}` })).toBe(1);
    expect(m.get("wicket_tunnel_connections_lost_total", { reason: "closed" })).toBe(0);
  });
});

/** `ssh <host> <command>` that must succeed; a failure shows what ssh and the ProxyCommand said. */
async function ssh(c: SshClient, host: string, command: string) {
  return expectExit(await run(["ssh", ...c.args, host, command]));
}

// Requests whose bodies dribble in cannot take the edge offline (issue 26, finding 1). From 18
// loopback addresses (Linux routes all of 127/8 to lo; each is its own client address), 2,160
// form POSTs at once send their bodies just above the edge's minimum rate: more than the 2,048
// requests in progress the edge allows, which before held every place, and every new stream,
// connector, sign-in and admin call got 503. Now they wait in a small pool of their own that
// drops its oldest for newcomers, while `ssh` with a service token, a stream through a tunnel,
// a connector that starts again, the sign-in page, an admin call and a form sent at once are
// all served, and /ready says the edge is shedding slow bodies. The compiled edge, real TLS,
// real sshd.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { TcpNetConnectOpts } from "node:net";
import tls from "node:tls";
import { BODY_GRACE_MS, BodyRefused, MIN_BODY_RATE, onBodyWait, readText, senderVerified } from "../../lib/edge/http/body.ts";
import { createHandshakes, enter, HANDSHAKE_LIMITS } from "../../lib/edge/http/handshakes.ts";
import { createSlowBodies, SLOW_BODY_LIMITS, waitForBody } from "../../lib/edge/http/slow-bodies.ts";
import { metricsUrl, ready } from "../helpers/metrics.ts";
import { expectExit, type Proc } from "../helpers/proc.ts";
import { startSshd, type Sshd } from "../helpers/sshd.ts";
import { echoed } from "../helpers/tcp.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "../helpers/wicket.ts";

const APP = "echo.site.test";
const SSH_APP = "ssh.site.test";
const ATTACKERS = Array.from({ length: 18 }, (_, i) => `127.0.0.${i + 2}`);
/** Each attacker's requests at once: 18 × 120 = 2,160, past the edge's 2,048 requests in progress. */
const PER_ATTACKER = 120;
/** The attack's bound: requests opened in all, the first wave included. */
const MAX_REQUESTS = 16_000;
/** Requests the attacker opens again at most per refill (every REFILL_MS): what two shared cores can handshake. */
const REFILL = 100;
const REFILL_MS = 250;
/** Each request declares the form limit and sends this much each second: just above the minimum rate. */
const DRIP = Math.ceil(MIN_BODY_RATE * 1.2);

let dir: TempDir;
let edge: TestEdge;
let ca: string;
let admin: string;
let token: ServiceToken;
let sshToken: ServiceToken;
let sshd: Sshd;
let tunnel: Proc;
let echo: { port: number; stop(closeActive?: boolean): void };
let local: number;

/** The attack: PER_ATTACKER slow POSTs from each address. The first wave's connections are
 * made first (kept alive by a GET /healthz every second: the edge closes a connection idle for
 * 10 s), and their POSTs start together once all are open: two shared cores take longer to make
 * 2,160 TLS connections than an attacker's machines would. A request the edge drops is opened again (at
 * most REFILL per REFILL_MS), its body started at once, until `stop` or MAX_REQUESTS. */
function slowPosts() {
  const keepAlive = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const post = "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\ngrant_type=";
  const open = new Map<string, Set<tls.TLSSocket>>(ATTACKERS.map((a) => [a, new Set()]));
  const sending = new WeakSet<tls.TLSSocket>(); // those whose body has started
  let opened = 0;
  let on = true;
  let arming = ATTACKERS.length * PER_ATTACKER;
  const { promise: fired, resolve: fire } = Promise.withResolvers<void>();
  const start = (s: tls.TLSSocket) => (sending.add(s), s.write(post));
  const armed = () => {
    if (--arming > 0) return;
    for (const set of open.values()) for (const s of set) start(s);
    fire();
  };
  const connect = (from: string, wave: boolean) => {
    opened++;
    let secure = false;
    const to: tls.ConnectionOptions & Pick<TcpNetConnectOpts, "localAddress"> = { host: "127.0.0.1", port: edge.port, ca, localAddress: from };
    const s = tls.connect(to, () => {
      secure = true;
      if (wave) (s.write(keepAlive), armed());
      else start(s);
    });
    s.on("error", () => {}); // a drop may come as a reset
    s.on("close", () => {
      open.get(from)!.delete(s);
      if (wave && !secure) armed();
    });
    open.get(from)!.add(s);
  };
  for (const a of ATTACKERS) for (let i = 0; i < PER_ATTACKER; i++) connect(a, true);
  const drip = setInterval(() => {
    for (const set of open.values()) for (const s of set) if (s.writable) s.write(sending.has(s) ? "a".repeat(DRIP) : keepAlive);
  }, 1_000);
  const refill = setInterval(() => {
    if (arming > 0) return;
    let budget = REFILL;
    for (const [a, set] of open) while (on && budget > 0 && opened < MAX_REQUESTS && set.size < PER_ATTACKER) (connect(a, false), budget--);
  }, REFILL_MS);
  return {
    fired,
    opened: () => opened,
    stop() {
      on = false;
      clearInterval(drip);
      clearInterval(refill);
      for (const set of open.values()) for (const s of set) s.destroy();
    },
  };
}

/** Bytes through the edge and back: `wicket access tcp` (a service token) to the echo origin. */
const served = (bytes: string) => echoed(local, bytes);

const tunnelArgs = ["--ha-connections", "1", "--grace-period", "1s"];

beforeAll(async () => {
  dir = await tempDir("wicket-slow-bodies-");
  edge = await startEdge({ dir, extra: ["--metrics", "127.0.0.1:0"] });
  admin = await metricsUrl(edge.proc);
  ca = readFileSync(edge.caFile, "utf8");
  echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
  token = await edge.app(APP);
  tunnel = await edge.tunnel(APP, `tcp://127.0.0.1:${echo.port}`, tunnelArgs);
  local = (await edge.accessTcp(APP, token)).port;
  sshd = await startSshd();
  sshToken = await edge.app(SSH_APP);
  await edge.tunnel(SSH_APP, `ssh://127.0.0.1:${sshd.port}`, tunnelArgs);
}, 60_000);

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  echo?.stop(true);
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("requests whose bodies dribble in", () => {
  test(`2,160 slow form POSTs from ${ATTACKERS.length} addresses leave ssh, streams, connectors, sign-in and the admin API served; /ready says the edge is shedding`, async () => {
    const attack = slowPosts();
    try {
      await attack.fired;
      // once the edge says the slow requests filled what they could (before: every place among the requests in progress)
      await edge.proc.waitForLine(/the edge has \d+ requests (in progress|waiting for their bodies), its share/, { stream: "stderr", timeoutMs: 30_000 });
      expect(await served("through the edge")).toBe("through the edge");
      const ssh = expectExit(await sshd.ssh(["echo", "over ssh"], { host: SSH_APP, proxyCommand: edge.proxyCommand(sshToken), timeoutMs: 30_000 }));
      expect(ssh.stdout.trim()).toBe("over ssh");

      // A connector that starts again (the same tunnel's credential) connects and carries streams.
      expect(await tunnel.stop()).toBe(0);
      tunnel = await edge.tunnel(APP, `tcp://127.0.0.1:${echo.port}`, tunnelArgs);
      expect(await served("through the new connection")).toBe("through the new connection");

      const signIn = await fetch(`${edge.url}/sign-in`, { tls: { ca } } as RequestInit);
      expect({ status: signIn.status, page: (await signIn.text()).includes("<form") }).toEqual({ status: 200, page: true });
      expect(await edge.admin(["app", "list"])).toContain(APP);
      // a body sent at once is read and answered, however full the pool of slow ones
      const form = await fetch(`${edge.url}/oauth/token`, { method: "POST", body: new URLSearchParams({ client_id: "wicket", grant_type: "nonsense" }), tls: { ca } } as RequestInit);
      expect({ status: form.status, error: ((await form.json()) as { error: string }).error }).toEqual({ status: 400, error: "unsupported_grant_type" });

      const r = await ready(admin);
      expect({ status: r.status, ready: r.body.ready, state: r.body.status }).toEqual({ status: 200, ready: true, state: "shedding" });
      const slow = r.body.slowBodies as { now: number; limit: number; dropped: number };
      expect(slow.limit).toBe(SLOW_BODY_LIMITS.total);
      expect(slow.now).toBeLessThanOrEqual(SLOW_BODY_LIMITS.total);
      expect(slow.dropped).toBeGreaterThan(0);
      expect(attack.opened()).toBeLessThan(MAX_REQUESTS); // the attack was still on to the end
    } finally {
      attack.stop();
    }
  }, 120_000);

  test(`a body that sends a byte every 2 s is refused (408) within ${(BODY_GRACE_MS + 1_000) / 1000} s, not held to the deadline`, async () => {
    let drip: Timer | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        drip = setInterval(() => c.enqueue(new TextEncoder().encode("a")), 2_000);
      },
      cancel: () => clearInterval(drip),
    });
    const req = new Request("https://edge.test/oauth/token", { method: "POST", body, headers: { "content-length": "1000" } });
    const started = performance.now();
    const err = await readText(req, 16 * 1024).catch((e: unknown) => e);
    clearInterval(drip);
    expect(err).toBeInstanceOf(BodyRefused);
    expect({ status: (err as BodyRefused).status, message: (err as BodyRefused).message }).toEqual({ status: 408, message: expect.stringContaining("slower than 1 KiB/s") });
    expect(performance.now() - started).toBeLessThan(BODY_GRACE_MS + 1_000);
  });
});

describe("the pool of requests waiting for their bodies", () => {
  test("drops the oldest of a full address, else the oldest of all; nobody is refused and nothing is kept of an address with nothing waiting", () => {
    const p = createSlowBodies({ perAddress: 2, total: 3 });
    const dropped: string[] = [];
    const wait = (ip: string, name: string) => waitForBody(p, ip, () => dropped.push(name));
    wait("192.0.2.1", "a1");
    wait("192.0.2.1", "a2");
    wait("192.0.2.1", "a3"); // its address's share: a1 goes
    const b1 = wait("192.0.2.2", "b1");
    wait("192.0.2.3", "c1"); // the edge's share: a2, the oldest of all, goes
    expect(dropped).toEqual(["a1", "a2"]);
    expect({ edge: p.shed.edge, address: p.shed.address, waiting: p.all.size }).toEqual({ edge: 1, address: 1, waiting: 3 });
    b1();
    b1(); // twice: nothing given back twice
    expect([p.all.size, p.byAddress.has("192.0.2.2")]).toEqual([2, false]);
  });

  test("a request waiting for its body holds no place among the requests in progress; the places kept for credentials are not given to anonymous requests", () => {
    const h = createHandshakes({ perAddress: 10, total: 4, reserved: 1 });
    const places = [enter(h, "192.0.2.1"), enter(h, "192.0.2.2"), enter(h, "192.0.2.3")];
    expect(enter(h, "192.0.2.4")).toEqual({ refused: "edge" });
    const withToken = enter(h, "192.0.2.4", true);
    expect("release" in withToken).toBe(true);
    for (const p of places) if ("stepAside" in p) p.stepAside(); // their bodies are arriving
    expect(h.total).toBe(1);
    for (const p of places) if ("stepBack" in p) (p.stepBack(), p.release(), p.stepBack()); // a step back after the release takes nothing
    if ("release" in withToken) withToken.release();
    expect([h.total, h.byAddress.size]).toEqual([0, 0]);
    expect(HANDSHAKE_LIMITS.reserved).toBeGreaterThan(0);
  });

  test("an anonymous body waits in the pool by its address; a verified sender's (an admin's, a zone credential's, an allowed client's) waits by its sender, never among anonymous newcomers", async () => {
    const waited: string[] = [];
    for (const who of ["anonymous", "verified"]) {
      const req = new Request("https://edge.test/api/v1/policies", { method: "POST", body: "{}" });
      onBodyWait(req, (_drop, sender) => (waited.push(`${who}:${sender}`), () => {}));
      if (who === "verified") senderVerified(req, "bearer x");
      expect(await readText(req, 1024)).toBe("{}");
    }
    expect(waited).toEqual(["anonymous:undefined", "verified:bearer x"]);
  });
});

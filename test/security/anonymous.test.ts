// Bounded anonymous work: what someone with nothing but network access can make the edge
// write or hold. Requests for hostnames that are no application are counted, not audited;
// repeated denials from one address reach the audit a few a minute; audited text is bounded;
// a large body is refused before it is read. The compiled edge on port 0, real TLS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, statSync } from "node:fs";
import { setupLog } from "../../lib/cli/log.ts";
import { authorizeClient } from "../../lib/edge/decisions/authorize.ts";
import { hostOf } from "../../lib/edge/http/routes.ts";
import { BODY_LIMITS, BodyRefused, readText } from "../../lib/edge/http/body.ts";
import { createDenialLimiter, DEFAULT_DENIAL_LIMITS } from "../../lib/edge/decisions/denials.ts";
import { createEdgeMetrics } from "../../lib/edge/runtime/metrics.ts";
import { addApp, addZone, queryAudit, writeAudit } from "../../lib/store/index.ts";
import { withStore } from "../helpers/store.ts";
import { startEdge, type TestEdge } from "../helpers/wicket.ts";

setupLog("silent");

const APP = "ssh.site.test";
let edge: TestEdge;
let ca: string;

beforeAll(async () => {
  edge = await startEdge();
  ca = readFileSync(edge.caFile, "utf8");
  await edge.admin(["zone", "add", "site.test"]);
  await edge.admin(["app", "add", APP]);
});

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
});

/** A request to the edge at 127.0.0.1 that names `host`, as anyone on the network can send it. */
const send = (host: string, path: string, init: RequestInit = {}) =>
  fetch(`https://127.0.0.1:${edge.port}${path}`, { ...init, tls: { ca }, headers: { host, ...(init.headers as Record<string, string>) } });

const upgrade = (host: string) =>
  send(host, "/", { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": btoa(crypto.randomUUID().slice(0, 16)), "sec-websocket-version": "13" } });

function auditRows(): number {
  const db = new Database(`${edge.dataDir}/wicket.db`, { readonly: true });
  try {
    return (db.query("SELECT COUNT(*) AS n FROM audit").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** The database and its write-ahead log, in bytes. */
const dbBytes = () => ["wicket.db", "wicket.db-wal"].map((f) => `${edge.dataDir}/${f}`).reduce((n, p) => n + (existsSync(p) ? statSync(p).size : 0), 0);

/** The edge's resident memory, in bytes (Linux). */
function rss(): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${edge.proc.pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS in /proc/${edge.proc.pid}/status`);
  return Number(m[1]) * 1024;
}

const randomLabel = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("");

/** Runs `n` requests, `width` at a time. */
async function flood(n: number, width: number, one: (i: number) => Promise<Response>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += width) {
    const batch = await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => one(i + j)));
    for (const r of batch) {
      statuses.push(r.status);
      await r.body?.cancel();
    }
  }
  return statuses;
}

describe("requests for hostnames that are no application", () => {
  test("1,000 anonymous upgrades and certificate requests with random hosts leave the audit table and the database as they were", async () => {
    const rows = auditRows();
    const bytes = dbBytes();
    const hosts = (i: number) => (i % 3 === 0 ? `${randomLabel(8)}.site.test` : i % 3 === 1 ? `${randomLabel(60)}.${randomLabel(60)}.example` : `${randomLabel(200)}.test`);
    const statuses = await flood(1000, 50, (i) => (i % 10 === 9 ? send(hosts(i), "/.well-known/wicket/ssh-cert", { method: "POST", body: "{}" }) : upgrade(hosts(i))));
    // an upgrade is accepted and then closed with the reason; a certificate request is a 404
    expect(new Set(statuses)).toEqual(new Set([101, 404]));
    expect(auditRows()).toBe(rows);
    // the write-ahead log may move by a page or two for other work; 1,000 rows would be far more
    expect(Math.abs(dbBytes() - bytes)).toBeLessThan(64 * 1024);
  }, 60_000);

  test("they are counted in wicket_edge_unknown_host_total", () =>
    withStore("sqlite", async (store) => {
      await addZone(store, "site.test");
      await addApp(store, APP);
      const metrics = createEdgeMetrics();
      for (const host of ["nope.site.test", "evil.example"]) {
        const a = await authorizeClient(store, new Request(`https://${host}/`), host, "203.0.113.9", { metrics });
        expect(a.reject?.reason).toContain(`no application at ${host}`);
      }
      expect(metrics.unknownHost.get()).toBe(2);
      expect(metrics.registry.render()).toContain("wicket_edge_unknown_host_total 2");
      expect(await queryAudit(store)).toEqual([]);
    }));
});

describe("repeated denials from one address", () => {
  test(`200 anonymous upgrades to an application from one address write at most ${DEFAULT_DENIAL_LIMITS.perAddress} audit rows`, async () => {
    const rows = auditRows();
    const statuses = await flood(200, 20, () => upgrade(APP));
    expect(statuses.every((s) => s === 101)).toBe(true);
    const written = auditRows() - rows;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(DEFAULT_DENIAL_LIMITS.perAddress);
  }, 60_000);

  test("past the limit they are only counted, and the count reaches the audit with the address's next denial a minute on", () =>
    withStore("sqlite", async (store) => {
      await addZone(store, "site.test");
      await addApp(store, APP);
      let now = 1_000_000;
      const limiter = createDenialLimiter({ perAddress: 3, windowMs: 60_000, maxAddresses: 2, total: 100 }, () => now);
      expect(Array.from({ length: 5 }, () => limiter.admit("203.0.113.1").record)).toEqual([true, true, true, false, false]);
      expect(limiter.admit("203.0.113.2").record).toBe(true);
      expect(limiter.admit("203.0.113.3").record).toBe(false); // two addresses followed already
      expect(limiter.suppressed()).toBe(3);
      now += 60_000;
      expect(limiter.admit("203.0.113.1")).toEqual({ record: true, suppressedBefore: 2 });

      const metrics = createEdgeMetrics();
      const ask = () => authorizeClient(store, new Request(`https://${APP}/`), APP, "198.51.100.7", { metrics });
      const n = DEFAULT_DENIAL_LIMITS.perAddress;
      for (let i = 0; i < n + 15; i++) expect((await ask()).reject?.reason).toContain("sign-in required");
      expect((await queryAudit(store, { denied: true })).length).toBe(n);
      expect(metrics.deniesUnaudited.get()).toBe(15);
    }));
});

describe("denials from many addresses", () => {
  // each address stays inside its own share; before the edge-wide cap, 10,000 addresses (one
  // IPv6 /48 holds 65,536 /64s, each counted as one address) could each write theirs
  test("write no more than the edge-wide share a window, however many addresses send them", () => {
    let now = 5_000_000;
    const limiter = createDenialLimiter({ perAddress: 3, windowMs: 60_000, maxAddresses: 10_000, total: 50 }, () => now);
    const written = Array.from({ length: 1_000 }, (_, i) => limiter.admit(`2001:db8:0:${i.toString(16)}::1`).record).filter(Boolean).length;
    expect(written).toBe(51); // the share, and the one row past it of their /48 (test/security/denials.test.ts)
    expect(limiter.suppressed()).toBe(949);
    now += 60_000;
    expect(limiter.admit("2001:db8:0:ffff::1").record).toBe(true); // a new window
  });
});

// Failed before: "edge.site.test." was not the edge's own host, and "app.site.test." was decided
// as app.site.test but matched no token audience or connector.
test("a Host with a trailing dot names the same host as without", () => {
  for (const host of ["Ssh.Site.Test.", "ssh.site.test.:443", "ssh.site.test"]) expect(hostOf(new Request("https://x/", { headers: { host } }))).toBe("ssh.site.test");
});

describe("audited text", () => {
  test("is cut to a bound however long what the client sent", () =>
    withStore("sqlite", async (store) => {
      const huge = "x".repeat(100_000);
      await writeAudit(store, { kind: "decision", allowed: false, identity: huge, host: huge, ip: huge, reason: huge });
      const [r] = await queryAudit(store);
      for (const v of [r!.identity, r!.host, r!.ip]) expect(v!.length).toBeLessThanOrEqual(1024);
      expect(r!.reason!.length).toBeLessThanOrEqual(2048);
      expect(r!.reason).toEndWith("…");
    }));
});

describe("request bodies", () => {
  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const MiB = 1024 * 1024;

  test("three 100 MiB bodies POSTed to /oauth/token at once are refused with 413 while the edge's memory stays flat", async () => {
    const host = new URL(edge.url).host;
    await send(host, "/healthz").then((r) => r.text());
    const before = rss();
    const big = new Uint8Array(100 * MiB).fill(0x61);
    const statuses = await Promise.all([0, 1, 2].map(() => send(host, "/oauth/token", { method: "POST", headers: FORM, body: big }).then(async (r) => (await r.body?.cancel(), r.status))));
    expect(statuses).toEqual([413, 413, 413]);
    expect(rss() - before).toBeLessThan(32 * MiB);
  }, 60_000);

  test("a body with no length, streamed past a form's limit, is refused with 413 without being read to its end", async () => {
    const host = new URL(edge.url).host;
    const before = rss();
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 100 * MiB) return c.close();
        sent += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const r = await send(host, "/oauth/token", { method: "POST", headers: FORM, body });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error_description: string }).error_description).toContain("larger than the 16 KiB");
    expect(rss() - before).toBeLessThan(32 * MiB);
  }, 60_000);

  // Failed before: a body that kept arriving a byte at a time was read for as long as it came,
  // holding its place among the edge's requests in progress (eight such addresses filled them).
  test("a body that arrives a byte at a time is refused with 408 at the deadline, not read for as long as it trickles", async () => {
    let sent = 0;
    let timer: Timer | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        timer = setInterval(() => (sent++ < 1000 ? c.enqueue(new Uint8Array([0x61])) : c.close()), 20);
      },
      cancel: () => clearInterval(timer),
    });
    const req = new Request("https://edge.test/sign-in/email", { method: "POST", body });
    const err = await readText(req, BODY_LIMITS.form, 300).catch((e) => e);
    clearInterval(timer);
    expect(err).toBeInstanceOf(BodyRefused);
    expect((err as BodyRefused).status).toBe(408);
    expect(sent).toBeLessThan(100);
  });

  test("a form of ordinary size still gets its OAuth answer", async () => {
    const r = await send(new URL(edge.url).host, "/oauth/token", { method: "POST", headers: FORM, body: "client_id=nobody&grant_type=refresh_token" });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: string }).error).toBe("invalid_client");
  });
});

// A tenant cannot refuse anyone else by dribbling bodies with its own zone credential (review
// finding 1). A zone credential is checked before its body is read, so its slow bodies kept
// their places among the 2,048 requests in progress: from 9 loopback addresses (each its own
// client address) × 230 `POST /api/v1/zone-tunnels` at 1.3 KB/s, every place was held, and an
// anonymous sign-in page, another tenant's call and /ready all got 503. Now a verified
// sender's slow body waits in a pool kept per sender that drops its own oldest. The compiled
// edge, real TLS.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { TcpNetConnectOpts } from "node:net";
import tls from "node:tls";
import { parseZoneCredential } from "../../lib/auth/zone-credential.ts";
import { metricsUrl, ready } from "../helpers/metrics.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, type TestEdge } from "../helpers/wicket.ts";

const ATTACKERS = Array.from({ length: 9 }, (_, i) => `127.0.0.${i + 2}`);
const PER_ATTACKER = 230;

let dir: TempDir;
let edge: TestEdge;
let ca: string;
let admin: string;
const bearerOf = async (zone: string) => {
  const c = parseZoneCredential(readFileSync(await edge.tunnelCert(zone), "utf8"));
  return `${c.id}.${c.secret}`;
};
let tenant: string;
let other: string;

beforeAll(async () => {
  dir = await tempDir("wicket-tenant-slow-");
  edge = await startEdge({ dir, extra: ["--metrics", "127.0.0.1:0"] });
  admin = await metricsUrl(edge.proc);
  ca = readFileSync(edge.caFile, "utf8");
  await edge.admin(["zone", "add", "one.test"]);
  await edge.admin(["zone", "add", "two.test"]);
  tenant = await bearerOf("one.test");
  other = await bearerOf("two.test");
}, 60_000);

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

test(`${ATTACKERS.length * PER_ATTACKER} slow zone-credential POSTs from one tenant leave the sign-in page, another tenant, the admin API and /ready served`, async () => {
  const head = `POST /api/v1/zone-tunnels HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tenant}\r\nContent-Type: application/json\r\nContent-Length: 16000\r\n\r\n{`;
  const socks = new Set<tls.TLSSocket>();
  let on = true;
  let opened = 0;
  const connect = (from: string) => {
    opened++;
    const to: tls.ConnectionOptions & Pick<TcpNetConnectOpts, "localAddress"> = { host: "127.0.0.1", port: edge.port, ca, localAddress: from };
    const s = tls.connect(to, () => void s.write(head));
    s.on("error", () => {});
    s.on("close", () => {
      socks.delete(s);
      if (on && opened < 8_000) setTimeout(() => connect(from), 50);
    });
    socks.add(s);
  };
  for (const a of ATTACKERS) for (let i = 0; i < PER_ATTACKER; i++) connect(a);
  const drip = setInterval(() => {
    for (const s of socks) if (s.writable) s.write(" ".repeat(1300));
  }, 1_000);
  try {
    await Bun.sleep(10_000);
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${edge.url}${path}`, { headers, tls: { ca } } as RequestInit).then((r) => r.status);
    expect({ signIn: await get("/sign-in"), otherTenant: await get("/api/v1/zone-tunnels", { authorization: `Bearer ${other}` }) }).toEqual({ signIn: 200, otherTenant: 200 });
    expect(await edge.admin(["zone", "list"])).toContain("two.test");
    const r = await ready(admin);
    expect({ status: r.status, state: r.body.status }).not.toEqual({ status: 503, state: "saturated" });
    expect((r.body.requestsInProgress as { now: number }).now).toBeLessThan(2048 - 256);
  } finally {
    on = false;
    clearInterval(drip);
    for (const s of socks) s.destroy();
  }
}, 120_000);

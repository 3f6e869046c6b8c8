// Named tunnels and the hostnames they own, tried as an attacker with a credential would: a
// parent zone's credential, a second tunnel, a revoked credential, a deleted tunnel. Each of
// these got streams (or kept them) before named tunnels; now each is refused or cut, says why,
// and exits 77. Real edge, real connectors, real `access tcp` clients.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { formatZoneCredential } from "../lib/auth/zone-credential.ts";
import { createZoneCredential, openStore, queryAudit, routeOf, type Store } from "../lib/store/index.ts";
import { helloFrame, pingFrame } from "../lib/wire/encode.ts";
import { createDecoder } from "../lib/wire/decode.ts";
import { Flag, FrameType } from "../lib/wire/frame.ts";
import { Close } from "../lib/wire/close.ts";
import { MAX_OPENING_PER_CREDENTIAL } from "../lib/edge/streams/connector-endpoint.ts";
import { EXIT } from "../lib/cli/exit.ts";
import { spawnProc, type Proc } from "./helpers/proc.ts";
import { namedOrigins, reached } from "./helpers/tcp.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, WICKET, wicket, type TestEdge } from "./helpers/wicket.ts";

let dir: TempDir;
let edge: TestEdge;
let store: Store;
/** Every tunnel command of a test runs as the same user, with this ~/.wicket. */
let env: Record<string, string>;
let cert: string;
/** TCP origins that say their name to each connection, then close it. */
const origins = namedOrigins();
const origin = origins.origin;

const tunnelCmd = (args: string[]) => wicket(["tunnel", ...args, "--origincert", cert], { env });
const run = (args: string[], name = "tunnel run") => spawnProc([WICKET, "tunnel", ...args], { name, env });
const registered = (p: Proc) => p.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });

beforeAll(async () => {
  dir = await tempDir("wicket-tunnels-");
  edge = await startEdge({ dir });
  env = { WICKET_HOME: dir.join("home"), WICKET_CA_FILE: edge.caFile };
  await edge.app("first.site.test"); // adds the zone site.test
  cert = await edge.tunnelCert("site.test");
  store = await openStore({ dataDir: edge.dataDir });
});

afterAll(async () => {
  await store?.close?.();
  origins.stop();
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("a connector's claim", () => {
  test("a parent zone's credential cannot claim a hostname of a nested zone (77, and the audit has the refusal)", async () => {
    const token = await edge.app("ssh.team.site.test", "team.site.test");
    const p = run(["--hostname", "ssh.team.site.test", "--url", origin("intruder"), "--origincert", cert], "parent-zone connector");
    expect(await p.exited).toBe(EXIT.denied);
    expect(p.stderr()).toContain("ssh.team.site.test belongs to the zone team.site.test, not site.test");
    const refusals = await queryAudit(store, { kind: "admin" });
    expect(refusals.some((r) => r.action === "tunnel.refuse" && r.target === "ssh.team.site.test")).toBe(true);
    // and no stream of the nested zone's application went anywhere
    const client = await wicket(["access", "ssh", "--hostname", "ssh.team.site.test", "--edge", edge.url, "--ca-file", edge.caFile, "--id", token.id, "--secret", token.secret], { stdin: "" });
    expect(client.code).toBe(EXIT.temporary);
    expect(client.stderr).toContain("no connector is online for ssh.team.site.test");
  });

  test("a second tunnel cannot take a routed hostname; every stream reaches the owner's origin while both run", async () => {
    const token = await edge.app("db.site.test");
    await edge.app("other.site.test");
    expect((await tunnelCmd(["create", "owner"])).code).toBe(0);
    expect((await tunnelCmd(["create", "thief"])).code).toBe(0);
    expect((await tunnelCmd(["route", "owner", "db.site.test"])).code).toBe(0);

    const refused = await tunnelCmd(["route", "thief", "db.site.test"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`db.site.test is routed to the tunnel "owner"`);

    await using owner = run(["run", "owner", "--hostname", "db.site.test", "--url", origin("owner")], "owner");
    await registered(owner);
    // the thief serves its own hostname and claims the owner's too: refused as a whole
    const thief = run(["run", "thief", "--hostname", "db.site.test", "--url", origin("thief")], "thief");
    expect(await thief.exited).toBe(EXIT.denied);
    expect(thief.stderr()).toContain(`db.site.test is routed to the tunnel "owner"`);
    // nor one nobody has routed: a tunnel's own credentials serve only what is routed to it
    // (failed before: any tunnel token of the zone took an unrouted hostname for itself)
    const unrouted = run(["run", "thief", "--hostname", "other.site.test", "--url", origin("thief")], "thief, unrouted");
    expect(await unrouted.exited).toBe(EXIT.denied);
    expect(unrouted.stderr()).toContain(`other.site.test is not routed to the tunnel thief; route it first`);
    expect(await routeOf(store, "other.site.test")).toBeUndefined();
    expect((await tunnelCmd(["route", "thief", "other.site.test"])).code).toBe(0);
    await using honest = run(["run", "thief", "--hostname", "other.site.test", "--url", origin("thief")], "thief, own hostname");
    await registered(honest);

    const seen = await reached(edge, "db.site.test", token, 40);
    expect(new Set(seen)).toEqual(new Set(["owner"]));
    const audit = await queryAudit(store, { kind: "admin" });
    expect(audit.some((r) => r.action === "tunnel.register" && r.target === "db.site.test")).toBe(true);
  });

  test("replicas of one tunnel share its streams and survive each other's restart", async () => {
    const token = await edge.app("web.site.test");
    expect((await tunnelCmd(["create", "web"])).code).toBe(0);
    expect((await tunnelCmd(["route", "web", "web.site.test"])).code).toBe(0);
    const t = await wicket(["tunnel", "token", "web"], { env });
    expect(t.code).toBe(0);
    const tunnelToken = t.stdout.trim();

    await using a = run(["run", "--token", tunnelToken, "--hostname", "web.site.test", "--url", origin("web")], "replica a");
    let b = run(["run", "web", "--hostname", "web.site.test", "--url", origin("web")], "replica b");
    await Promise.all([registered(a), registered(b)]);
    expect(await reached(edge, "web.site.test", token, 10)).toEqual(Array(10).fill("web"));
    expect(await b.stop()).toBe(0);
    expect(await reached(edge, "web.site.test", token, 10)).toEqual(Array(10).fill("web"));
    b = run(["run", "web", "--hostname", "web.site.test", "--url", origin("web")], "replica b again");
    await registered(b);
    expect(await a.stop()).toBe(0);
    expect(await reached(edge, "web.site.test", token, 10)).toEqual(Array(10).fill("web"));
    expect(await b.stop()).toBe(0);
  });
});

describe("a credential taken away", () => {
  /** A connector with a zone credential obtained by `who`, registered. */
  async function connectorOf(who: string, hostname: string) {
    const c = await createZoneCredential(store, "site.test", { obtainedBy: who });
    const file = dir.join(`cert-${crypto.randomUUID()}.pem`);
    await Bun.write(file, formatZoneCredential({ edge: edge.url, zone: c.zone, id: c.id, secret: c.secret }));
    const p = run(["--hostname", hostname, "--url", origin(hostname), "--origincert", file], `connector of ${who}`);
    await registered(p);
    return { id: c.id, file, proc: p };
  }

  /** The connector exits 77 within a second of `act`, saying `why`; its restart is refused too. */
  async function cutBy(c: { file: string; proc: Proc }, hostname: string, act: () => Promise<unknown>, why: string) {
    const started = performance.now();
    await act();
    expect(await c.proc.exited).toBe(EXIT.denied);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(c.proc.stderr()).toContain(why);
    const again = run(["--hostname", hostname, "--url", origin(hostname), "--origincert", c.file], "restarted connector");
    expect(await again.exited).toBe(EXIT.denied);
    expect(again.stderr()).toContain(why);
  }

  test("edge tunnel-cert revoke cuts the live connector, and it cannot come back", async () => {
    await edge.app("a.site.test");
    const c = await connectorOf("ann@site.test", "a.site.test");
    const listed = JSON.parse(await edge.admin(["tunnel-cert", "list", "--json"])) as { id: string; obtainedBy: string }[];
    expect(listed.find((x) => x.id === c.id)?.obtainedBy).toBe("ann@site.test");
    await cutBy(c, "a.site.test", () => edge.admin(["tunnel-cert", "revoke", c.id]), "was revoked");
  });

  test("removing a zone admin revokes the credentials they obtained and cuts their connectors", async () => {
    await edge.app("b.site.test");
    await edge.admin(["zone", "edit", "site.test", "--add-admin", "bob@site.test"]);
    const c = await connectorOf("bob@site.test", "b.site.test");
    await cutBy(c, "b.site.test", () => edge.admin(["zone", "edit", "site.test", "--remove-admin", "bob@site.test"]), "was revoked");
  });

  test("user revoke revokes that person's zone credentials and cuts their connectors", async () => {
    await edge.app("c.site.test");
    const c = await connectorOf("cat@site.test", "c.site.test");
    await cutBy(c, "c.site.test", () => edge.admin(["user", "revoke", "cat@site.test"]), "was revoked");
  });

  test("tunnel delete cuts the tunnel's connectors, and its credentials no longer work", async () => {
    await edge.app("d.site.test");
    expect((await tunnelCmd(["create", "doomed"])).code).toBe(0);
    expect((await tunnelCmd(["route", "doomed", "d.site.test"])).code).toBe(0);
    const p = run(["run", "doomed", "--hostname", "d.site.test", "--url", origin("doomed")], "doomed");
    await registered(p);
    const started = performance.now();
    expect((await tunnelCmd(["delete", "doomed"])).code).toBe(0);
    expect(await p.exited).toBe(EXIT.denied);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(p.stderr()).toContain("was deleted");
    const again = run(["run", "doomed", "--hostname", "d.site.test", "--url", origin("doomed")], "doomed again");
    expect(await again.exited).toBe(EXIT.denied);
    expect(again.stderr()).toContain("refused");
  });
});

describe("found in review", () => {
  // Each of these held before the fix (see the closing note of issue 13's review).
  test("the one-liner's four connections on a new hostname make one tunnel, and all register", async () => {
    for (const host of ["r1.site.test", "r2.site.test", "r3.site.test"]) {
      await edge.app(host);
      await using p = run(["--hostname", host, "--url", origin(host), "--origincert", cert, "--ha-connections", "4"], `four at once to ${host}`);
      for (let i = 0; i < 4; i++) await registered(p);
      const tunnels = (JSON.parse(await edge.admin(["tunnel", "list", "--json"])) as { name: string; routes: string[] }[]).filter((t) => t.name.startsWith(host));
      expect(tunnels).toEqual([expect.objectContaining({ name: host, routes: [host] })]);
    }
  }, 60_000);

  test("a hostname longer than a tunnel name still works in the one-liner", async () => {
    const host = `${"l".repeat(60)}.site.test`;
    await edge.admin(["app", "add", host]);
    const token = { ...(JSON.parse(await edge.admin(["token", "create", "long", "--json"])) as { id: string; secret: string }), name: "long" };
    await edge.admin(["policy", "add", host, "--name", "allow long", "--action", "allow", "--include", "token:long"]);
    await using p = run(["--hostname", host, "--url", origin("long"), "--origincert", cert], "long hostname");
    await registered(p);
    expect(await reached(edge, host, token, 2)).toEqual(["long", "long"]);
  });

  test("a tunnel may not be named like a tunnel id", async () => {
    const r = await tunnelCmd(["create", "wtn_0123456789abcdef"]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("may not start with wtn_");
  });

  test("a connection that has not said hello when its credential is revoked is refused when it does", async () => {
    await edge.app("late.site.test");
    const c = await createZoneCredential(store, "site.test", { obtainedBy: "eve@site.test" });
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}/connect`, { headers: { authorization: `Bearer ${c.id}.${c.secret}` }, tls: { ca: Bun.file(edge.caFile) } } as never);
      ws.onopen = async () => {
        await edge.admin(["tunnel-cert", "revoke", c.id]); // while the connection waits
        ws.send(helloFrame(1, { hostnames: ["late.site.test"], connector: "late" }));
      };
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
    expect(closed.code).toBe(Close.denied);
    expect(closed.reason).toContain("was revoked");
    expect(await routeOf(store, "late.site.test")).toBeUndefined();
  });

  test("user revoke deletes the tunnels that person made, and cuts their connectors", async () => {
    await edge.app("dan.site.test");
    const c = await createZoneCredential(store, "site.test", { obtainedBy: "dan@site.test" });
    const danCert = dir.join("cert-dan.pem");
    await Bun.write(danCert, formatZoneCredential({ edge: edge.url, zone: c.zone, id: c.id, secret: c.secret }));
    const danEnv = { WICKET_HOME: dir.join("home-dan"), WICKET_CA_FILE: edge.caFile };
    expect((await wicket(["tunnel", "create", "dans", "--origincert", danCert], { env: danEnv })).code).toBe(0);
    expect((await wicket(["tunnel", "route", "dans", "dan.site.test", "--origincert", danCert], { env: danEnv })).code).toBe(0);
    const p = spawnProc([WICKET, "tunnel", "run", "dans", "--hostname", "dan.site.test", "--url", origin("dan")], { name: "dan's tunnel", env: danEnv });
    await registered(p);
    await edge.admin(["user", "revoke", "dan@site.test"]);
    expect(await p.exited).toBe(EXIT.denied);
    expect(p.stderr()).toContain("was deleted");
    expect((JSON.parse(await edge.admin(["tunnel", "list", "--json"])) as { name: string }[]).some((t) => t.name === "dans")).toBe(false);
  });

  test("a zone added inside the credential's zone takes its hostnames from the parent's tunnel", async () => {
    await edge.app("x.later.site.test", "site.test");
    const p = run(["--hostname", "x.later.site.test", "--url", origin("parent"), "--origincert", cert], "parent's tunnel");
    await registered(p);
    await edge.admin(["zone", "add", "later.site.test"]);
    expect(await p.exited).toBe(EXIT.denied);
    expect(p.stderr()).toContain("now belongs to the zone later.site.test");
    // failed before: the parent's route stayed, so the new zone's own connector was refused
    // ("served by the tunnel … of someone else") until someone took it over with --overwrite
    expect(await routeOf(store, "x.later.site.test")).toBeUndefined();
    const child = await edge.tunnelCert("later.site.test");
    await using own = run(["--hostname", "x.later.site.test", "--url", origin("child"), "--origincert", child], "the nested zone's tunnel");
    await registered(own);
  });

  test("another owner's credential in the zone can neither delete a tunnel nor route to it", async () => {
    await edge.app("own.site.test");
    expect((await tunnelCmd(["create", "ours"])).code).toBe(0);
    const c = await createZoneCredential(store, "site.test", { obtainedBy: "mallory@site.test" });
    const other = dir.join("cert-mallory.pem");
    await Bun.write(other, formatZoneCredential({ edge: edge.url, zone: c.zone, id: c.id, secret: c.secret }));
    const asMallory = (args: string[]) => wicket(["tunnel", ...args, "--origincert", other], { env: { WICKET_HOME: dir.join("home-mallory"), WICKET_CA_FILE: edge.caFile } });
    for (const args of [["delete", "ours"], ["route", "ours", "own.site.test"]]) {
      const r = await asMallory(args);
      expect(r.code).toBe(EXIT.denied);
      expect(r.stderr).toContain(`the tunnel "ours" belongs to`);
    }
    expect((JSON.parse(await edge.admin(["tunnel", "list", "--json"])) as { name: string }[]).some((t) => t.name === "ours")).toBe(true);
    // nor take a hostname of ours over to a tunnel of her own (failed before: --overwrite moved
    // it, and every stream for it went to her server)
    expect((await tunnelCmd(["route", "ours", "own.site.test"])).code).toBe(0);
    expect((await asMallory(["create", "hers"])).code).toBe(0);
    const taken = await asMallory(["route", "hers", "own.site.test", "--overwrite"]);
    expect(taken.code).toBe(EXIT.denied);
    expect(taken.stderr).toContain(`own.site.test is routed to the tunnel "ours" of`);
    expect((await routeOf(store, "own.site.test"))?.name).toBe("ours");
  });

  test("a connection that answers pings but never says hello is closed", async () => {
    const text = await Bun.file(cert).text();
    const body = JSON.parse(Buffer.from(text.split("\n").slice(1, -1).join("").split("-----")[0]!, "base64").toString()) as { id: string; secret: string };
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}/connect`, { headers: { authorization: `Bearer ${body.id}.${body.secret}` }, tls: { ca: Bun.file(edge.caFile) } } as never);
      ws.binaryType = "arraybuffer";
      const decoder = createDecoder();
      // alive (so the keepalive keeps it), but silent about what it serves
      ws.onmessage = (e) => {
        for (const f of decoder.push(new Uint8Array(e.data as ArrayBuffer))) if (f.type === FrameType.ping && !(f.flags & Flag.ack)) ws.send(pingFrame(f.payload, true));
      };
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
    expect(closed).toEqual({ code: Close.protocolError, reason: expect.stringContaining("no hello within 10 s") });
  }, 20_000);
});

describe("the connector endpoint under abuse", () => {
  /** A raw connector WebSocket with the test's zone credential; resolves its close. */
  async function rawConnector(send: (ws: WebSocket) => void): Promise<{ code: number; reason: string }> {
    const text = await Bun.file(cert).text();
    const body = JSON.parse(Buffer.from(text.split("\n").slice(1, -1).join("").split("-----")[0]!, "base64").toString()) as { id: string; secret: string };
    return new Promise((resolve) => {
      const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}/connect`, { headers: { authorization: `Bearer ${body.id}.${body.secret}` }, tls: { ca: Bun.file(edge.caFile) } } as never);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => send(ws);
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
  }
  const hello = (meta: unknown) => {
    const json = Buffer.from(typeof meta === "string" ? meta : JSON.stringify(meta));
    const b = new Uint8Array(10 + 2 + json.byteLength);
    const v = new DataView(b.buffer);
    b[0] = 0; // hello
    v.setUint32(6, 2 + json.byteLength);
    v.setUint16(10, 1);
    b.set(json, 12);
    return b;
  };

  // Failed before: a credential could keep any number of connections open without a hello,
  // each pinging and costing the edge a socket and a mux for 10 s, again and again.
  test(`${MAX_OPENING_PER_CREDENTIAL} connections of one credential may be opening at once; the next is refused until they say hello or go`, async () => {
    const text = await Bun.file(cert).text();
    const body = JSON.parse(Buffer.from(text.split("\n").slice(1, -1).join("").split("-----")[0]!, "base64").toString()) as { id: string; secret: string };
    const dial = () =>
      new Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }>((resolve) => {
        const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}/connect`, { headers: { authorization: `Bearer ${body.id}.${body.secret}` }, tls: { ca: Bun.file(edge.caFile) } } as never);
        const closed = new Promise<{ code: number; reason: string }>((r) => (ws.onclose = (e) => r({ code: e.code, reason: e.reason })));
        ws.onopen = () => resolve({ ws, closed });
      });
    const held = await Promise.all(Array.from({ length: MAX_OPENING_PER_CREDENTIAL }, dial));
    try {
      const extra = await dial();
      expect(await extra.closed).toEqual({ code: Close.denied, reason: expect.stringContaining("already opening here") });
    } finally {
      for (const h of held) h.ws.close();
    }
    await Promise.all(held.map((h) => h.closed));
    // once they are gone, the credential opens connections again
    const again = await dial();
    again.ws.close(1000, "done");
    expect((await again.closed).code).toBe(1000);
  }, 60_000);

  test("a hello whose metadata is not an object is a protocol error", async () => {
    for (const meta of ["[1,2]", '"x"', "null", "{"]) expect((await rawConnector((ws) => ws.send(hello(meta)))).code).toBe(Close.protocolError);
  });

  test("a second hello on one connection is a protocol error", async () => {
    await edge.app("h.site.test");
    const r = await rawConnector((ws) => {
      ws.send(hello({ hostnames: ["h.site.test"], connector: "raw" }));
      ws.send(hello({ hostnames: ["h.site.test"], connector: "raw" }));
    });
    expect(r.code).toBe(Close.protocolError);
  });

  test("10,000 hostnames are refused with a reason; a 1 MiB frame sent one byte per message is taken in; the edge still serves", async () => {
    // another tenant, served before and after: its connect time is printed, not asserted
    const token = await edge.app("after.site.test");
    await using p = run(["--hostname", "after.site.test", "--url", origin("after"), "--origincert", cert], "another tenant");
    await registered(p);
    const timed = async () => {
      const t0 = performance.now();
      expect(await reached(edge, "after.site.test", token, 5)).toEqual(Array(5).fill("after"));
      return performance.now() - t0;
    };
    const before = await timed();

    const many = await rawConnector((ws) => ws.send(hello({ hostnames: Array.from({ length: 10_000 }, (_, i) => `h${i}.site.test`), connector: "raw" })));
    expect(many.code).toBe(Close.denied);
    expect(many.reason).toContain("at most 256");

    // a hello frame whose 1 MiB payload comes one byte per WebSocket message: the decoder
    // takes it in linear time, then refuses it (its metadata is no JSON)
    const big = new Uint8Array(10 + (1 << 20));
    new DataView(big.buffer).setUint32(6, 1 << 20);
    big.fill(32, 12);
    const trickle = await rawConnector((ws) => {
      for (let i = 0; i < big.byteLength; i++) ws.send(big.subarray(i, i + 1));
    });
    expect(trickle.code).toBe(Close.protocolError);

    // and the other tenant is served as before
    const after = await timed();
    console.log(`another tenant's 5 connections through access tcp: ${before.toFixed(0)} ms before the abuse, ${after.toFixed(0)} ms after`);
  }, 30_000);
});

// What one credential and one zone may hold on an edge node, tried as a credential holder would:
// more connections than its share (the real connector is refused, says why and exits 77), more
// hostnames than its zone's share, more one-liner tunnels than a credential may make, and
// registrations faster than a credential may. The checks read counts, never every connection.
//
// The edge runs with small limits from its edge.yaml (`connector-limits:`), so that a few real
// connectors reach them; the defaults are checked by the same code with larger numbers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { parseZoneCredential } from "../../lib/auth/zone-credential.ts";
import { checkEdgeConfig } from "../../lib/edge/config/file.ts";
import { CONNECTOR_LIMITS, createRegistrationLimiter, overCap, REGISTRATIONS_PER_CREDENTIAL } from "../../lib/edge/streams/connector-limits.ts";
import { createConnectors, type ConnectorConn } from "../../lib/edge/streams/connectors.ts";
import { claimHostnames, identifyConnector, MAX_ONE_LINER_TUNNELS, type ConnectorIdentity } from "../../lib/edge/streams/tunnel-claims.ts";
import { EXIT } from "../../lib/cli/exit.ts";
import { createEdgeMetrics, refreshGauges } from "../../lib/edge/runtime/metrics.ts";
import { addZone, createZoneCredential, listTunnels } from "../../lib/store/index.ts";
import { Close } from "../../lib/wire/close.ts";
import { createDecoder } from "../../lib/wire/decode.ts";
import { helloFrame } from "../../lib/wire/encode.ts";
import { FrameType, PROTOCOL_VERSION } from "../../lib/wire/frame.ts";
import { CONNECT_PATH } from "../../lib/wire/http.ts";
import type { Mux } from "../../lib/wire/mux.ts";
import { expectExit, spawnProc, type Proc } from "../helpers/proc.ts";
import { withStore } from "../helpers/store.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, WICKET, wicket, type TestEdge } from "../helpers/wicket.ts";

const LIMITS = { "connections-per-credential": 3, "connections-per-zone": 5, "hostnames-per-zone": 4 };

describe("limits per credential and per zone, on a real edge", () => {
  let dir: TempDir;
  let edge: TestEdge;
  let origin: { port: number; stop(closeActive?: boolean): void };
  const procs: Proc[] = [];

  const connector = (hostname: string, cert: string, connections: number) => {
    const p = spawnProc([WICKET, "tunnel", "--hostname", hostname, "--url", `tcp://127.0.0.1:${origin.port}`, "--origincert", cert, "--ha-connections", String(connections)], { name: `tunnel ${hostname}` });
    procs.push(p);
    return p;
  };
  const registered = async (p: Proc, n: number) => {
    for (let i = 0; i < n; i++) await p.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });
  };
  /** A connector that the edge should refuse: it runs to its end, which must come by itself. */
  const refused = (hostname: string, cert: string) =>
    wicket(["tunnel", "--hostname", hostname, "--url", `tcp://127.0.0.1:${origin.port}`, "--origincert", cert, "--ha-connections", "1", "--retries", "0"], { timeoutMs: 20_000 });

  beforeAll(async () => {
    dir = await tempDir("wicket-connector-limits-");
    const config = dir.join("edge.yaml");
    writeFileSync(config, `connector-limits: ${JSON.stringify(LIMITS)}\n`);
    edge = await startEdge({ dir, extra: ["--config", config] });
    origin = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
    await edge.admin(["zone", "add", "caps.test"]);
    await edge.admin(["zone", "add", "names.test"]);
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await edge?.[Symbol.asyncDispose]();
    origin?.stop(true);
    await dir?.[Symbol.asyncDispose]();
  });

  // Failed before: a credential could hold 128 connections for each of its zone's tunnels on
  // every node, and a zone any number: here the fourth and the sixth registered like the rest.
  test(`a credential holds at most ${LIMITS["connections-per-credential"]} connections on a node, a zone at most ${LIMITS["connections-per-zone"]}: the next connector is refused, says why and exits ${EXIT.denied}; once some go, it gets in`, async () => {
    const certA = await edge.tunnelCert("caps.test");
    const a = connector("a.caps.test", certA, 3);
    await registered(a, 3);
    // the same credential, another hostname (another tunnel): the credential's fourth connection
    const fourth = expectExit(await refused("b.caps.test", certA), EXIT.denied);
    expect(fourth.stderr).toContain("the edge refused this connector: this credential already has 3 connections to this edge node, the most one credential may");
    expect(a.exitCode).toBeUndefined(); // the credential's connections that fit keep serving

    const b = connector("c.caps.test", await edge.tunnelCert("caps.test"), 2);
    await registered(b, 2);
    const certC = await edge.tunnelCert("caps.test");
    const sixth = expectExit(await refused("d.caps.test", certC), EXIT.denied);
    expect(sixth.stderr).toContain("the edge refused this connector: the zone caps.test already has 5 connector connections to this edge node");

    // another zone is not this one's: its connector gets in meanwhile
    const other = connector("x.names.test", await edge.tunnelCert("names.test"), 1);
    await registered(other, 1);
    await other.stop();

    expect(await a.stop()).toBe(0);
    // the edge says so when the last of them is out of its registry
    await edge.proc.waitForLine(/it has no other connection here, so a\.caps\.test wait for it/, { stream: "stderr", timeoutMs: 10_000 });
    const d = connector("d.caps.test", certC, 1);
    await registered(d, 1);
    expect(await d.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  }, 90_000);

  test(`a zone's connections serve at most ${LIMITS["hostnames-per-zone"]} hostnames on a node: a hello for more is refused with the reason`, async () => {
    const cred = parseZoneCredential(await Bun.file(await edge.tunnelCert("names.test")).text());
    const hostnames = Array.from({ length: 5 }, (_, i) => `n${i}.names.test`);
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}${CONNECT_PATH}`, { headers: { authorization: `Bearer ${cred.id}.${cred.secret}` }, tls: { ca: Bun.file(edge.caFile) } } as never);
      ws.onopen = () => ws.send(helloFrame(PROTOCOL_VERSION, { hostnames, connector: "many-names" }));
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
    expect(closed).toEqual({ code: Close.denied, reason: "the zone names.test would serve 5 hostnames on this edge node; at most 4" });
  }, 30_000);

  // Failed before: a credential registered (a round of store reads and writes each) as fast as
  // it could open connections, over and over.
  test(`a credential registering past ${REGISTRATIONS_PER_CREDENTIAL.capacity} at once is told to come back later (${Close.unavailable}: the connector retries), not refused`, async () => {
    const cred = parseZoneCredential(await Bun.file(await edge.tunnelCert("names.test")).text());
    const hello = () =>
      new Promise<{ code: number; reason: string }>((resolve) => {
        const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}${CONNECT_PATH}`, { headers: { authorization: `Bearer ${cred.id}.${cred.secret}` }, tls: { ca: Bun.file(edge.caFile) } } as never);
        ws.onopen = () => ws.send(helloFrame(PROTOCOL_VERSION, { hostnames: ["fast.names.test"], connector: "fast" }));
        // the edge's hello answer: registered (and let go at once); a ping before it is no answer
        const frames = createDecoder();
        ws.binaryType = "nodebuffer";
        ws.onmessage = (ev) => {
          if (!frames.push(new Uint8Array(ev.data as Buffer)).some((f) => f.type === FrameType.hello)) return;
          resolve({ code: 0, reason: "registered" });
          ws.close();
        };
        ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
      });
    // in waves, each within the connections a credential may have opening at once
    const ends: { code: number; reason: string }[] = [];
    for (let wave = 0; wave < 3; wave++) ends.push(...(await Promise.all(Array.from({ length: 200 }, hello))));
    const tooFast = ends.filter((e) => e.code === Close.unavailable);
    expect(tooFast.length).toBeGreaterThan(0);
    expect(tooFast[0]!.reason).toMatch(/^this credential registers connections here too fast; retry in \d+ s$/);
    // the others registered, up to the credential's limit, and the rest were refused for room
    expect(ends.filter((e) => e.code === Close.denied).every((e) => e.reason.startsWith("this credential already has 3 connections"))).toBe(true);
  }, 60_000);
});

describe("the checks", () => {
  const standIn = (i: number, zone: string): ConnectorConn => {
    const who: ConnectorIdentity = { kind: "zone-credential", credential: { id: `wzc_${i % 50}`, zone, obtainedBy: "", createdAt: 0 } };
    const mux = { closed: false, peerGoingAway: false, streams: new Map() } as unknown as Mux;
    return { id: `c${i}`, zone, hostnames: [`h${i % 3000}.${zone}`], tunnel: { id: `wtn_${i % 200}`, name: `t${i % 200}` }, who, mux, remote: "192.0.2.9" };
  };

  // Failed before: the per-tunnel check filtered every connection on the node, at each
  // registration (and each close counted the connector's others the same way).
  test("among 10,000 connections, checking room for one, adding it, counting, the gauges and removing it read none of the others", () => {
    const registry = createConnectors();
    let reads = 0;
    // every property read of these connections is counted
    for (let i = 0; i < 10_000; i++) registry.add(new Proxy(standIn(i, i % 2 ? "odd.test" : "even.test"), { get: (t, k, r) => (reads++, Reflect.get(t, k, r)) }));
    reads = 0;
    const fresh = standIn(10_001, "even.test");
    const roomy = { ...CONNECTOR_LIMITS, connectionsPerCredential: 100_000, connectionsPerZone: 100_000, hostnamesPerZone: 100_000 };
    expect(overCap(registry, { who: fresh.who, zone: fresh.zone, tunnel: fresh.tunnel, hostnames: fresh.hostnames }, roomy)).toBeUndefined();
    registry.add(fresh);
    expect(registry.count("tunnel", fresh.tunnel.id)).toBe(51);
    expect(registry.count("credential", "wzc_1")).toBe(201);
    expect(registry.count("zone", "even.test")).toBe(5_001);
    expect(registry.count("connector", fresh.id)).toBe(1);
    refreshGauges(createEdgeMetrics(), registry, 0); // the gauges, after each registration and close
    registry.remove(fresh);
    registry.remove(fresh); // twice: counted once
    expect(registry.count("zone", "even.test")).toBe(5_000);
    expect(reads).toBe(0);
    expect(overCap(registry, { who: fresh.who, zone: "even.test" }, { ...CONNECTOR_LIMITS, connectionsPerZone: 5_000 })).toContain("already has 5000 connector connections");
  });

  test(`a credential registers ${REGISTRATIONS_PER_CREDENTIAL.capacity} connections at once, then ${(REGISTRATIONS_PER_CREDENTIAL.capacity * 1000) / REGISTRATIONS_PER_CREDENTIAL.perMs} a second; another credential is not held back`, () => {
    let now = 1_000_000;
    const limiter = createRegistrationLimiter(REGISTRATIONS_PER_CREDENTIAL, () => now);
    const who = (id: string): ConnectorIdentity => ({ kind: "zone-credential", credential: { id, zone: "z.test", obtainedBy: "", createdAt: 0 } });
    for (let i = 0; i < REGISTRATIONS_PER_CREDENTIAL.capacity; i++) expect(limiter.take(who("wzc_a"))).toBe(0);
    const wait = limiter.take(who("wzc_a"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(1000);
    expect(limiter.take(who("wzc_b"))).toBe(0);
    now += 1000;
    let taken = 0;
    while (limiter.take(who("wzc_a")) === 0) taken++;
    expect(taken).toBe((REGISTRATIONS_PER_CREDENTIAL.capacity * 1000) / REGISTRATIONS_PER_CREDENTIAL.perMs);
  });

  test("an edge.yaml may change the limits; a bad one names the key", () => {
    expect(checkEdgeConfig({ "connector-limits": { "connections-per-zone": 10_000 } }, "edge.yaml")).toEqual({ "connector-limits": { connectionsPerZone: 10_000 } });
    expect(() => checkEdgeConfig({ "connector-limits": { "connections-per-zone": 0 } }, "edge.yaml")).toThrow('edge.yaml: "connector-limits.connections-per-zone" must be a whole number of at least 1, not 0');
    expect(() => checkEdgeConfig({ "connector-limits": { "connections-per-server": 3 } }, "edge.yaml")).toThrow("is not a known key");
  });

  // Failed before: the one-line form made a tunnel per first hostname until the zone had 1,000.
  test(`the one-line form makes at most ${MAX_ONE_LINER_TUNNELS} tunnels for one credential's owner in a zone; its existing ones keep serving`, () =>
    withStore("sqlite", async (store) => {
      await addZone(store, "many.test");
      const c = await createZoneCredential(store, "many.test", { obtainedBy: "fleet@many.test" });
      const who = await identifyConnector(store, `Bearer ${c.id}.${c.secret}`);
      if ("refused" in who) throw new Error(who.refused);
      for (let i = 0; i < MAX_ONE_LINER_TUNNELS; i++) expect(await claimHostnames(store, who, [`s${i}.many.test`], "192.0.2.8")).toMatchObject({ hostnames: [`s${i}.many.test`] });
      expect(await claimHostnames(store, who, ["one-more.many.test"], "192.0.2.8")).toEqual({
        refused: `fleet@many.test already has ${MAX_ONE_LINER_TUNNELS} tunnels in the zone many.test; serve more hostnames from one (wicket tunnel route NAME HOSTNAME), or delete some (wicket tunnel delete)`,
      });
      expect(await claimHostnames(store, who, ["s7.many.test"], "192.0.2.8")).toMatchObject({ tunnel: { name: "s7.many.test" } });
      expect((await listTunnels(store, "many.test")).length).toBe(MAX_ONE_LINER_TUNNELS);
    }), 60_000);
});

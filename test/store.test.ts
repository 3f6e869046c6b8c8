// The store on a real SQLite file in a temporary directory: migrations, the zone and
// application rules, credentials kept only as hashes, and the bootstrap admin token.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { SQL } from "bun";
import { hashSecret } from "../lib/auth/secret.ts";
import { MIGRATIONS } from "../lib/store/migrations.ts";
import {
  addApp,
  addPolicy,
  addZone,
  createServiceToken,
  createZoneCredential,
  createTunnel,
  routeHostname,
  routeOf,
  MAX_ROUTES_PER_ZONE,
  appendRecording,
  encodeEvent,
  zoneRecordingBytes,
  getRecording,
  listRecordings,
  pruneRecordings,
  recordingText,
  startRecording,
  ensureTunnel,
  ensureBootstrapAdminToken,
  findApp,
  listApps,
  listPolicies,
  listServiceTokens,
  listZones,
  openStore,
  removeApp,
  removePolicy,
  removeServiceToken,
  removeZone,
  schemaVersions,
  StoreError,
  verifyAdminToken,
  verifyServiceToken,
  verifyZoneCredential,
  revokeZoneCredential,
  revokeZoneCredentialsOf,
  listZoneCredentials,
  accessRevision,
  allSigningKeys,
  listSigningKeys,
  liveSigningKeyIds,
  retireSigningKeysExcept,
  signingKeyRetired,
  auditedOpenSession,
  revokeSessionEverywhere,
  revokedSessions,
  writeAudit,
  queryAudit,
  type Store,
} from "../lib/store/index.ts";
import { rotateSigningKey } from "../lib/auth/jwt.ts";
import { claimHostnames, identifyConnector } from "../lib/edge/streams/tunnel-claims.ts";
import { DEFAULT_DENIAL_LIMITS } from "../lib/edge/decisions/denials.ts";
import { tempDir } from "./helpers/tmp.ts";
import { BACKENDS, withStore as withStoreOn, type Backend } from "./helpers/store.ts";

async function storeErr(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw e;
  }
  throw new Error("expected a StoreError, got success");
}

let backend: Backend = "sqlite";
const withStore = (fn: (store: Store, dir: string) => Promise<void>) => withStoreOn(backend, fn);

const mode = (path: string) => statSync(path).mode & 0o777;

describe("openStore", () => {
  test("creates wicket.db with mode 0600 and applies every migration once", async () => {
    await using dir = await tempDir();
    {
      await using store = await openStore({ dataDir: dir.join("data") });
      expect(await schemaVersions(store)).toEqual(MIGRATIONS.map((m) => m.version));
      await addZone(store, "example.test");
    }
    expect(mode(dir.join("data", "wicket.db"))).toBe(0o600);
    expect(mode(dir.join("data"))).toBe(0o700);
    // Opening again keeps the data and applies nothing twice.
    await using again = await openStore({ dataDir: dir.join("data") });
    expect(await schemaVersions(again)).toEqual(MIGRATIONS.map((m) => m.version));
    expect((await listZones(again)).map((z) => z.name)).toEqual(["example.test"]);
  });

  test("refuses a store written by a newer wicket, with exit code 78", async () => {
    await using dir = await tempDir();
    await (await openStore({ dataDir: dir.path })).close();
    const raw = new SQL({ adapter: "sqlite", filename: dir.join("wicket.db") });
    await raw`INSERT INTO schema_migrations (version, applied_at) VALUES (${9999}, ${Date.now()})`;
    await raw.close();
    const err = await openStore({ dataDir: dir.path }).then(
      () => undefined,
      (e) => e,
    );
    expect(err?.exitCode).toBe(78);
    expect(err?.message).toContain("schema version 9999");
  });

  test("opens by sqlite:// URL too", async () => {
    await using dir = await tempDir();
    await using store = await openStore({ url: `sqlite://${dir.join("x.db")}` });
    expect(await schemaVersions(store)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  test("refuses an unknown database URL with exit code 78", async () => {
    const err = await openStore({ url: "mysql://localhost/x" }).catch((e) => e);
    expect(err.exitCode).toBe(78);
    expect(err.message).toBe(`unsupported database URL "mysql://localhost/x"; use postgres://… or sqlite://…`);
  });
});

for (const b of BACKENDS) {
  describe(b, () => {
    beforeAll(() => {
      backend = b;
    });
    describe("zones and applications", () => {
      test("zone names are lower-cased DNS names; bad ones are usage errors", () =>
        withStore(async (store) => {
          expect((await addZone(store, "Example.TEST.")).name).toBe("example.test");
          const bad = await storeErr(addZone(store, "not a zone"));
          expect(bad.exitCode).toBe(64);
          expect(bad.message).toBe(`"not a zone" is not a valid zone; use a DNS name such as example.com`);
          expect((await storeErr(addZone(store, "10.0.0.1"))).message).toContain("IP address");
          expect((await storeErr(addZone(store, "example.test"))).kind).toBe("conflict");
        }));

      test("an application must lie in an existing zone", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          expect(await addApp(store, "SSH.site.test")).toMatchObject({ hostname: "ssh.site.test", zone: "site.test" });
          expect(await addApp(store, "site.test")).toMatchObject({ hostname: "site.test", zone: "site.test" });
          expect(await addApp(store, "a.b.site.test")).toMatchObject({ zone: "site.test" });
          expect(await addApp(store, "*.site.test")).toMatchObject({ hostname: "*.site.test", zone: "site.test" });

          const outside = await storeErr(addApp(store, "ssh.other.test"));
          expect(outside.kind).toBe("invalid");
          expect(outside.message).toBe(`"ssh.other.test" is not in any zone; add its zone first with "wicket edge zone add <zone>"`);
          // A suffix that is not a label boundary is not "in" the zone.
          expect((await storeErr(addApp(store, "evilsite.test"))).kind).toBe("invalid");
          expect((await storeErr(addApp(store, "*.b.site.test"))).message).toContain(`"b.site.test" is not a zone`);
          expect((await storeErr(addApp(store, "a.*.site.test"))).message).toContain("a wildcard may only be the whole first label");
          expect((await storeErr(addApp(store, "ssh_1.site.test"))).message).toContain("is not a valid hostname");
          expect((await storeErr(addApp(store, "ssh.site.test"))).kind).toBe("conflict");
        }));

      test("an application belongs to the longest zone it lies in", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          await addZone(store, "dev.site.test");
          expect((await addApp(store, "ssh.dev.site.test")).zone).toBe("dev.site.test");
          expect((await listApps(store, "dev.site.test")).map((a) => a.hostname)).toEqual(["ssh.dev.site.test"]);
          expect(await listApps(store, "site.test")).toEqual([]);
        }));

      test("findApp: exact beats wildcard; a wildcard covers one label", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          await addApp(store, "*.site.test");
          await addApp(store, "ssh.site.test");
          expect((await findApp(store, "ssh.site.test"))?.hostname).toBe("ssh.site.test");
          expect((await findApp(store, "SSH.Site.Test."))?.hostname).toBe("ssh.site.test");
          expect((await findApp(store, "git.site.test"))?.hostname).toBe("*.site.test");
          expect(await findApp(store, "a.git.site.test")).toBeUndefined();
          expect(await findApp(store, "site.test")).toBeUndefined();
          expect(await findApp(store, "ssh.other.test")).toBeUndefined();
          expect(await findApp(store, "not a host")).toBeUndefined();
        }));

      test("a zone cannot be removed while applications use it; removing an app removes its policies", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          await addApp(store, "ssh.site.test");
          await addPolicy(store, { app: "ssh.site.test", name: "all", action: "allow", include: ["everyone"] });
          const busy = await storeErr(removeZone(store, "site.test"));
          expect(busy.kind).toBe("conflict");
          expect(busy.message).toBe(`the zone "site.test" still has an application (ssh.site.test); remove it first with "wicket edge app rm"`);
          await removeApp(store, "ssh.site.test");
          expect(await listPolicies(store)).toEqual([]);
          expect((await removeZone(store, "site.test")).name).toBe("site.test");
          expect(await listZones(store)).toEqual([]);
          expect((await storeErr(removeZone(store, "site.test"))).kind).toBe("not-found");
        }));
    });

    describe("service tokens", () => {
      test("the store keeps a hash, not the secret; verify takes the right secret only", () =>
        withStore(async (store) => {
          const t = await createServiceToken(store, "deploy");
          expect(t.id).toMatch(/^wkt_[0-9a-f]{16}$/);
          expect(t.secret.length).toBeGreaterThanOrEqual(43); // 32 bytes, base64url
          const [row] = await store.sql`SELECT secret_hash FROM service_tokens WHERE id = ${t.id}`;
          expect(row.secret_hash).not.toBe(t.secret);
          expect(row.secret_hash).toBe(hashSecret(t.secret));

          expect(await verifyServiceToken(store, t.id, t.secret)).toMatchObject({ id: t.id, name: "deploy" });
          expect(await verifyServiceToken(store, t.id, t.secret + "x")).toBeUndefined();
          expect(await verifyServiceToken(store, t.id, "")).toBeUndefined();
          expect(await verifyServiceToken(store, "wkt_0000000000000000", t.secret)).toBeUndefined();
        }));

      test("names are unique among live tokens; rm revokes by id or name", () =>
        withStore(async (store) => {
          const a = await createServiceToken(store, "deploy");
          expect((await storeErr(createServiceToken(store, "deploy"))).kind).toBe("conflict");
          expect((await storeErr(createServiceToken(store, "wkt_x"))).kind).toBe("invalid");
          expect((await storeErr(createServiceToken(store, "has space"))).kind).toBe("invalid");

          await removeServiceToken(store, "deploy");
          expect(await verifyServiceToken(store, a.id, a.secret)).toBeUndefined();
          expect(await listServiceTokens(store)).toEqual([]);
          expect((await listServiceTokens(store, { includeRevoked: true }))[0]).toMatchObject({ id: a.id, revokedAt: expect.any(Number) });

          const b = await createServiceToken(store, "deploy"); // the name is free again
          await removeServiceToken(store, b.id);
          expect((await storeErr(removeServiceToken(store, b.id))).kind).toBe("not-found");
        }));
    });

    describe("policies", () => {
      test("are kept in order, with checked rules, and name real tokens", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          await addApp(store, "ssh.site.test");
          await createServiceToken(store, "ci");
          const p0 = await addPolicy(store, { app: "ssh.site.test", name: "ci", action: "allow", include: ["token:ci"] });
          const p1 = await addPolicy(store, { app: "SSH.site.test", name: "block", action: "deny", include: [{ kind: "everyone" }], exclude: ["any-token"] });
          expect([p0.position, p1.position]).toEqual([0, 1]);
          expect((await listPolicies(store, "ssh.site.test")).map((p) => [p.name, p.rules])).toEqual([
            ["ci", { include: [{ kind: "token", value: "ci" }], exclude: [], require: [] }],
            ["block", { include: [{ kind: "everyone" }], exclude: [{ kind: "any-token" }], require: [] }],
          ]);

          expect((await storeErr(addPolicy(store, { app: "ssh.site.test", name: "ci", action: "allow", include: ["everyone"] }))).kind).toBe("conflict");
          expect((await storeErr(addPolicy(store, { app: "nope.site.test", name: "x", action: "allow", include: ["everyone"] }))).kind).toBe("not-found");
          expect((await storeErr(addPolicy(store, { app: "ssh.site.test", name: "x", action: "maybe", include: ["everyone"] }))).message).toContain("use allow or deny");
          expect((await storeErr(addPolicy(store, { app: "ssh.site.test", name: "x", action: "allow", include: [] }))).message).toContain("at least one include rule");
          expect((await storeErr(addPolicy(store, { app: "ssh.site.test", name: "x", action: "allow", include: ["token:typo"] }))).message).toContain(`there is no service token "typo"`);
          await expect(addPolicy(store, { app: "ssh.site.test", name: "x", action: "allow", include: ["geo:fr"] })).rejects.toThrow(/unknown rule/);

          await removePolicy(store, p0.id);
          expect((await listPolicies(store)).map((p) => p.id)).toEqual([p1.id]);
          expect((await storeErr(removePolicy(store, p0.id))).kind).toBe("not-found");
        }));
    });

    describe("zone credentials", () => {
      test("verify gives the zone for the right secret only, and stops when the zone goes", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          const c = await createZoneCredential(store, "site.test", { obtainedBy: "ann@site.test" });
          expect(c.id).toMatch(/^wzc_/);
          expect(await verifyZoneCredential(store, c.id, c.secret)).toMatchObject({ credential: { id: c.id, zone: "site.test", obtainedBy: "ann@site.test" } });
          expect(await verifyZoneCredential(store, c.id, "wrong")).toHaveProperty("refused");
          await removeZone(store, "site.test");
          expect(await verifyZoneCredential(store, c.id, c.secret)).toHaveProperty("refused");
          expect((await storeErr(createZoneCredential(store, "site.test", { obtainedBy: "ann@site.test" }))).kind).toBe("not-found");
        }));

      test("a credential expires, can be revoked, and those a person obtained are revoked with them", () =>
        withStore(async (store) => {
          await addZone(store, "site.test");
          const short = await createZoneCredential(store, "site.test", { obtainedBy: "ann@site.test", lifetimeMs: -1 });
          expect((await verifyZoneCredential(store, short.id, short.secret)) as { refused: string }).toEqual({ refused: expect.stringContaining("expired") });
          const a = await createZoneCredential(store, "site.test", { obtainedBy: "Ann@site.test" });
          const b = await createZoneCredential(store, "site.test", { obtainedBy: "bob@site.test" });
          const before = await accessRevision(store);
          expect((await revokeZoneCredentialsOf(store, "ann@SITE.test")).credentials.sort()).toEqual([short.id, a.id].sort()); // the expired one too
          expect(await accessRevision(store)).toBeGreaterThan(before);
          expect(await verifyZoneCredential(store, a.id, a.secret)).toEqual({ refused: expect.stringContaining("was revoked") });
          expect(await verifyZoneCredential(store, b.id, b.secret)).toHaveProperty("credential");
          await revokeZoneCredential(store, b.id);
          expect(await verifyZoneCredential(store, b.id, b.secret)).toHaveProperty("refused");
          expect((await listZoneCredentials(store)).map((c) => [c.obtainedBy, c.revokedAt !== undefined])).toEqual([["ann@site.test", true], ["Ann@site.test", true], ["bob@site.test", true]]);
        }));
    });

    describe("tunnels", () => {
      // Failed before the fix: the zone's count was checked before the existing tunnel was
      // looked up, so in a full zone a tunnel's own owner was refused its tunnel (a replica
      // connecting just after the first, before the route was written).
      test("a full zone refuses a new tunnel, not the owner's existing one", () =>
        withStore(async (store) => {
          await addZone(store, "full.test");
          const mine = await ensureTunnel(store, "full.test", "app.full.test", "owner-a");
          for (let i = 1; i < 1000; i++) await createTunnel(store, "full.test", `filler-${i}`, "owner-b");
          expect(await ensureTunnel(store, "full.test", "app.full.test", "owner-a")).toEqual(mine);
          // another owner's name is still not theirs, and a new name finds no room
          expect(await ensureTunnel(store, "full.test", "app.full.test", "owner-b")).toBeUndefined();
          expect((await storeErr(ensureTunnel(store, "full.test", "new.full.test", "owner-a"))).kind).toBe("conflict");
          // the owner's connections asking at once for the zone's last tunnel all get it
          await store.sql`DELETE FROM tunnels WHERE name = 'filler-1'`;
          const last = await Promise.all(Array.from({ length: 4 }, () => ensureTunnel(store, "full.test", "last.full.test", "owner-a")));
          expect(new Set(last.map((t) => t?.id)).size).toBe(1);
          expect(last[0]?.name).toBe("last.full.test");
        }));
    });

    describe("nested zones", () => {
      // Each failed before: the application stayed in the parent zone (whose admins saw its
      // recordings), the parent's wildcard covered the nested zone's own name, and the parent's
      // tunnel kept the route, so the nested zone's connectors were refused.
      test("a zone added inside another takes its applications and routes; the parent's wildcard does not cover its name", () =>
        withStore(async (store) => {
          await addZone(store, "example.test");
          await addApp(store, "*.example.test");
          await addApp(store, "srv.team.example.test");
          await addApp(store, "other.example.test");
          const parent = await ensureTunnel(store, "example.test", "parent", "owner-a");
          await routeHostname(store, parent!, "srv.team.example.test");
          await routeHostname(store, parent!, "other.example.test");
          expect((await findApp(store, "team.example.test"))?.hostname).toBe("*.example.test");

          const added = await addZone(store, "team.example.test");
          expect([added.movedApps, added.unrouted]).toEqual([["srv.team.example.test"], ["srv.team.example.test"]]);
          expect((await findApp(store, "srv.team.example.test"))?.zone).toBe("team.example.test");
          expect((await findApp(store, "other.example.test"))?.zone).toBe("example.test");
          expect(await findApp(store, "team.example.test")).toBeUndefined();
          expect((await findApp(store, "x.example.test"))?.hostname).toBe("*.example.test");
          expect(await routeOf(store, "srv.team.example.test")).toBeUndefined();
          expect((await routeOf(store, "other.example.test"))?.name).toBe("parent");

          // and removing it gives them back to the zone around it
          await removeZone(store, "team.example.test");
          expect((await findApp(store, "srv.team.example.test"))?.zone).toBe("example.test");
          expect((await findApp(store, "team.example.test"))?.hostname).toBe("*.example.test");
          // a zone with nothing around it keeps refusing while it has applications
          expect((await storeErr(removeZone(store, "example.test"))).message).toContain("still has 3 applications");
        }));
    });

    describe("routes", () => {
      // Failed before: routes outlive the connections that claim them, and nothing capped them,
      // so a credential could grow the table (and every listing) without end.
      test("a zone's tunnels may route at most MAX_ROUTES_PER_ZONE hostnames", () =>
        withStore(async (store) => {
          await addZone(store, "many.test");
          const t = (await ensureTunnel(store, "many.test", "t", "owner-a"))!;
          const rows = Array.from({ length: MAX_ROUTES_PER_ZONE - 1 }, (_, i) => ({ hostname: `h${i}.many.test`, tunnel_id: t.id, created_at: 1 }));
          for (let i = 0; i < rows.length; i += 1000) await store.sql`INSERT INTO tunnel_routes ${store.sql(rows.slice(i, i + 1000))}`;
          await routeHostname(store, t, "last.many.test");
          expect((await storeErr(routeHostname(store, t, "more.many.test"))).message).toContain(`already have ${MAX_ROUTES_PER_ZONE} hostnames routed`);
          // a hostname already routed is no new route
          expect((await routeHostname(store, t, "h5.many.test")).tunnel.id).toBe(t.id);
        }));
    });

    describe("connector refusals", () => {
      // Failed before: a connector refused in a loop (a restart loop, a script) wrote a row each time.
      test("of one credential reach the audit a few a minute; the rest are counted in the next row", () =>
        withStore(async (store) => {
          await addZone(store, "refuse.test");
          const c = await createZoneCredential(store, "refuse.test", { obtainedBy: "loop@refuse.test" });
          const who = await identifyConnector(store, `Bearer ${c.id}.${c.secret}`);
          if ("refused" in who) throw new Error(who.refused);
          for (let i = 0; i < 100; i++) expect(await claimHostnames(store, who, ["x.elsewhere.test"], "192.0.2.7")).toMatchObject({ refused: expect.stringContaining("outside the zone") });
          const rows = await queryAudit(store, { kind: "admin" });
          expect(rows.filter((r) => r.action === "tunnel.refuse").length).toBe(DEFAULT_DENIAL_LIMITS.perAddress);
        }));
    });

    describe("a zone admin's view (issue 28)", () => {
      test("audit and recordings keep a zone's rows, by the longest zone, before the limit", () =>
        withStore(async (store) => {
          for (const z of ["a.test", "eu.a.test", "b.test"]) await addZone(store, z);
          await writeAudit(store, { kind: "decision", allowed: true, host: "ssh.a.test", app: "ssh.a.test" });
          await writeAudit(store, { kind: "decision", allowed: true, host: "w.a.test", app: "*.a.test" });
          await writeAudit(store, { kind: "decision", allowed: true, host: "a.test" });
          await writeAudit(store, { kind: "admin", actor: "ci", action: "app.add", target: "new.a.test" });
          await writeAudit(store, { kind: "admin", actor: "ci", action: "policy.add", target: "pol_1" });
          for (const host of ["xa.test", "x.eu.a.test", "eu.a.test", "ssh.b.test", "ssh.b.test", "ssh.b.test"]) await writeAudit(store, { kind: "decision", allowed: false, host, app: host });
          const hostOf = (r: { app?: string; host?: string; target?: string }) => r.app ?? r.host ?? r.target;
          expect((await queryAudit(store, { inZones: ["a.test"], limit: 4 })).map(hostOf)).toEqual(["ssh.a.test", "*.a.test", "a.test", "new.a.test"]);
          expect((await queryAudit(store, { inZones: ["a.test", "eu.a.test"] })).map(hostOf)).toEqual(["ssh.a.test", "*.a.test", "a.test", "new.a.test", "x.eu.a.test", "eu.a.test"]);
          expect((await queryAudit(store, { inZones: ["b.test"], limit: 2 })).map(hostOf)).toEqual(["ssh.b.test", "ssh.b.test"]);
          expect(await queryAudit(store, { inZones: [] })).toEqual([]);
          expect(await queryAudit(store, {})).toHaveLength(11);
          const rec = (host: string, i: number) => startRecording(store, { sessionId: `s${host}${i}`, app: host, host, identity: "a@a.test", principal: "a", input: false }, '{"version":2}');
          await rec("ssh.a.test", 0);
          for (let i = 0; i < 3; i++) await rec("x.eu.a.test", i);
          expect((await listRecordings(store, { inZones: ["a.test"], limit: 2 })).map((r) => r.host)).toEqual(["ssh.a.test"]);
          expect((await listRecordings(store, { inZones: ["eu.a.test"], limit: 2 })).map((r) => r.host)).toEqual(["x.eu.a.test", "x.eu.a.test"]);
        }));
    });

    describe("recordings", () => {
      test("appends add chunks and leave the stored text alone; a recording an older release appended to reads whole; prune takes the chunks too", () =>
        withStore(async (store) => {
          const who = { sessionId: "s1", app: "ssh.site.test", host: "ssh.site.test", identity: "a@site.test", principal: "a", input: false };
          // as releases before migration 120 left a recording: every event appended to data
          const old = '{"version":2}\n[0.1,"o","old"]\n';
          await store.sql`INSERT INTO recordings (id, session_id, app, host, identity, principal, started_at, bytes, input, data)
            VALUES ('rec_old', 's0', 'ssh.site.test', 'ssh.site.test', 'a@site.test', 'a', 1000, ${old.length}, 0, ${old})`;
          await appendRecording(store, "rec_old", 0, '[0.2,"o","new"]\n');
          expect(await recordingText(store, "rec_old")).toBe(old + '[0.2,"o","new"]\n');

          const rec = await startRecording(store, who, '{"version":2}\n', 5000);
          const lines = Array.from({ length: 50 }, (_, i) => `[${i},"o","${"x".repeat(i)}"]\n`);
          for (const [i, line] of lines.entries()) await appendRecording(store, rec.id, i, line);
          expect(await recordingText(store, rec.id)).toBe('{"version":2}\n' + lines.join(""));
          expect((await getRecording(store, rec.id))?.bytes).toBe('{"version":2}\n'.length + lines.join("").length);
          // the row's own text is still the header: an append costs its own size, not the recording's
          const [row]: { data: string }[] = await store.sql`SELECT data FROM recordings WHERE id = ${rec.id}`;
          expect(row?.data).toBe('{"version":2}\n');

          expect(await pruneRecordings(store, 2000)).toBe(1);
          expect((await listRecordings(store)).map((r) => r.id)).toEqual([rec.id]);
          const chunksOf = async (id: string) => Number(((await store.sql`SELECT count(*) AS n FROM recording_chunks WHERE recording_id = ${id}`) as { n: number | bigint }[])[0]?.n);
          expect(await chunksOf("rec_old")).toBe(0);
          // a session still recording when its recording is pruned leaves no chunk behind
          await appendRecording(store, "rec_old", 1, '[0.3,"o","late"]\n');
          expect(await chunksOf("rec_old")).toBe(0);
          // flushes of several sessions at once, as on a busy edge
          const others = await Promise.all([1, 2, 3].map((i) => startRecording(store, { ...who, sessionId: `s${i}` }, "{}\n", 6000)));
          await Promise.all(others.flatMap((r) => [0, 1, 2].map((seq) => appendRecording(store, r.id, seq, `[${seq}]\n`))));
          for (const r of others) expect(await recordingText(store, r.id)).toBe("{}\n[0]\n[1]\n[2]\n");
        }));

      test("events are stored as their bytes and read back as asciicast lines, UTF-8 split across chunks included; a zone's recordings add up", () =>
        withStore(async (store) => {
          await addZone(store, "rec.test");
          await addApp(store, "ssh.rec.test");
          const who = { sessionId: "s9", app: "ssh.rec.test", host: "ssh.rec.test", identity: "a@rec.test", principal: "a", input: true };
          const rec = await startRecording(store, who, '{"version":2}\n', 7000);
          const e = new TextEncoder();
          const chunk0 = new Uint8Array([...encodeEvent(0.5, "o", new Uint8Array(64)), ...encodeEvent(0.75, "o", new Uint8Array([0xc3]))]);
          const chunk1 = new Uint8Array([...encodeEvent(1, "o", new Uint8Array([0xa9, 0xff])), ...encodeEvent(1.25, "i", e.encode("ls\r")), ...encodeEvent(2, "r", e.encode("100x30"))]);
          await appendRecording(store, rec.id, 0, chunk0);
          await appendRecording(store, rec.id, 1, chunk1);
          expect(await recordingText(store, rec.id)).toBe(
            ['{"version":2}', `[0.5,"o","${"\\u0000".repeat(64)}"]`, '[0.75,"o",""]', '[1,"o","é\ufffd"]', '[1.25,"i","ls\\r"]', '[2,"r","100x30"]', ""].join("\n"),
          );
          // 64 NULs take 77 bytes, not the 384 of their JSON
          expect((await getRecording(store, rec.id))?.bytes).toBe('{"version":2}\n'.length + chunk0.byteLength + chunk1.byteLength);
          expect(await zoneRecordingBytes(store, "rec.test")).toBe((await getRecording(store, rec.id))!.bytes);
        }));
    });

    describe("signing keys", () => {
      test("rotation signs with the new key; retiring the others refuses their tokens and moves the access revision", () =>
        withStore(async (store) => {
          const k1 = await rotateSigningKey(store);
          const k2 = await rotateSigningKey(store);
          expect((await listSigningKeys(store)).map((k) => k.kid)).toEqual([k2, k1]);
          const before = await accessRevision(store);
          expect(await retireSigningKeysExcept(store, k2)).toEqual([k1]);
          expect(await accessRevision(store)).toBe(before + 1);
          expect([...(await liveSigningKeyIds(store))]).toEqual([k2]);
          expect(await signingKeyRetired(store, k1)).toBe(true);
          expect(await signingKeyRetired(store, k2)).toBe(false);
          expect((await allSigningKeys(store)).find((k) => k.kid === k1)?.retiredAt).toBeNumber();
          expect(await retireSigningKeysExcept(store, k2)).toEqual([]); // nothing left to retire: no revision move
          expect(await accessRevision(store)).toBe(before + 1);
        }));
    });

    describe("session revocations", () => {
      test("a session the audit let in and did not end can be revoked for every node; the revision moves", () =>
        withStore(async (store) => {
          await writeAudit(store, { kind: "decision", allowed: true, identity: "jdoe@example.com", host: "ssh.site.test", ip: "10.0.0.1", sessionId: "ses_1" });
          await writeAudit(store, { kind: "decision", allowed: true, identity: "ann@example.com", host: "ssh.site.test", ip: "10.0.0.2", sessionId: "ses_2" });
          await writeAudit(store, { kind: "session-end", sessionId: "ses_2", reason: "ended normally" });
          expect(await auditedOpenSession(store, "ses_1")).toMatchObject({ id: "ses_1", identity: "jdoe@example.com", host: "ssh.site.test", ip: "10.0.0.1" });
          expect(await auditedOpenSession(store, "ses_2")).toBeUndefined(); // ended
          expect(await auditedOpenSession(store, "ses_9")).toBeUndefined(); // never let in
          const before = await accessRevision(store);
          await revokeSessionEverywhere(store, "ses_1", "session ses_1 was revoked by an admin");
          await revokeSessionEverywhere(store, "ses_1", "again"); // the first reason stays
          expect(await accessRevision(store)).toBe(before + 2);
          const ids = Array.from({ length: 2500 }, (_, i) => `ses_x${i}`).concat("ses_1");
          expect([...(await revokedSessions(store, ids))]).toEqual([["ses_1", "session ses_1 was revoked by an admin"]]);
        }));
    });

    describe("bootstrap admin token", () => {
      test("is written once to <dataDir>/admin-token with mode 0600 and verifies", () =>
        withStore(async (store, dir) => {
          const first = await ensureBootstrapAdminToken(store, dir);
          expect(first.created).toBe(true);
          expect(mode(first.path)).toBe(0o600);
          const token = readFileSync(first.path, "utf8").trim();
          expect(token).toMatch(/^wka_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
          expect(await verifyAdminToken(store, token)).toMatchObject({ name: "bootstrap" });
          expect(await verifyAdminToken(store, token.slice(0, -1) + (token.endsWith("A") ? "B" : "A"))).toBeUndefined();
          expect(await verifyAdminToken(store, "garbage")).toBeUndefined();
          const [row] = await store.sql`SELECT secret_hash FROM admin_tokens`;
          expect(token).not.toContain(row.secret_hash);

          const second = await ensureBootstrapAdminToken(store, dir);
          expect(second.created).toBe(false);
          expect(readFileSync(first.path, "utf8").trim()).toBe(token);
        }));
    });
  });
}

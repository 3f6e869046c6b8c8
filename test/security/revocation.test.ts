// What a zone credential made dies with it (issue 26, findings 2 and 12). A thief with a copy of
// cert.pem makes a tunnel, takes the owner's hostname over with --overwrite, prints its token
// and runs it; revoking the credential used to cut the owner and leave the thief serving every
// user of the hostname. Now the tunnels a credential made are disabled with it (the edge cannot
// tell the owner from the thief), their routes go, their secrets end no later than it, a secret
// can be rotated, and removing a `group:` zone admin revokes what the group's members obtained.
// Real edge, real connectors, real `access tcp` clients; the credentials are made in the store
// as `tunnel login` makes them (test/signin.test.ts signs in through a browser for one).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { formatZoneCredential } from "../../lib/auth/zone-credential.ts";
import { EXIT } from "../../lib/cli/exit.ts";
import {
  addZone,
  addZoneAdmins,
  createTunnel,
  createZoneCredential,
  ensureTunnel,
  getTunnel,
  getZoneCredential,
  madeWith,
  openStore,
  queryAudit,
  removeZoneAdmins,
  revokeZoneCredential,
  revokeZoneCredentialsGrantedBy,
  rotateTunnelSecret,
  routeHostname,
  routeOf,
  type Store,
} from "../../lib/store/index.ts";
import { spawnProc, type Proc } from "../helpers/proc.ts";
import { BACKENDS, PG, tempDatabase, withStore } from "../helpers/store.ts";
import { namedOrigins, reached } from "../helpers/tcp.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, WICKET, wicket, type TestEdge } from "../helpers/wicket.ts";

/** TCP origins that say their name to each connection, then close it. */
const origins = namedOrigins();
const origin = origins.origin;

/** `p`, or a failure saying `what` did not happen within `ms` (a bound on an event, not a sleep). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const registered = (p: Proc) => p.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });

/** One person's (or one thief's) machine: its own ~/.wicket, a cert.pem, and the tunnel commands. */
type Machine = { file: string; env: Record<string, string>; tunnel(args: string[]): ReturnType<typeof wicket>; run(args: string[], name: string): Proc };

async function machine(dir: TempDir, edge: TestEdge, name: string, certText: string): Promise<Machine> {
  const file = dir.join(`cert-${name}-${crypto.randomUUID().slice(0, 6)}.pem`);
  await Bun.write(file, certText);
  const env = { WICKET_HOME: dir.join(`home-${name}-${crypto.randomUUID().slice(0, 6)}`), WICKET_CA_FILE: edge.caFile };
  return {
    file,
    env,
    tunnel: (args) => wicket(["tunnel", ...args, "--origincert", file], { env }),
    run: (args, what) => spawnProc([WICKET, "tunnel", ...args], { name: what, env }),
  };
}

/** A zone credential as `tunnel login` issues it to `who`, written as a cert.pem. */
async function credential(store: Store, edge: TestEdge, zone: string, who: string, opts: { lifetimeMs?: number; grantedBy?: string[] } = {}) {
  const c = await createZoneCredential(store, zone, { obtainedBy: who, grantedBy: opts.grantedBy ?? [`email:${who}`], ...(opts.lifetimeMs ? { lifetimeMs: opts.lifetimeMs } : {}) });
  return { ...c, text: formatZoneCredential({ edge: edge.url, zone: c.zone, id: c.id, secret: c.secret }) };
}

type ListedCredential = { id: string; revokedAt?: number; tunnels: { id: string; name: string; routes: string[]; disabled?: string }[] };
const listCredentials = async (edge: TestEdge) => JSON.parse(await edge.admin(["tunnel-cert", "list", "--json"])) as ListedCredential[];

describe("one edge", () => {
  let dir: TempDir;
  let edge: TestEdge;
  let store: Store;

  beforeAll(async () => {
    dir = await tempDir("wicket-revocation-");
    edge = await startEdge({ dir });
    await edge.app("first.site.test"); // adds the zone site.test
    store = await openStore({ dataDir: edge.dataDir });
  }, 30_000);

  afterAll(async () => {
    await store?.close?.();
    origins.stop();
    await edge?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  test("a thief's create, route --overwrite, token and run die with the revoked credential: the hostname reaches nobody or the owner, never the thief", async () => {
    const host = "ssh.site.test";
    const users = await edge.app(host);
    const cert = await credential(store, edge, "site.test", "olga@site.test");
    const olga = await machine(dir, edge, "olga", cert.text);
    expect((await olga.tunnel(["create", "olga"])).code).toBe(0);
    expect((await olga.tunnel(["route", "olga", host])).code).toBe(0);
    await using ownerConnector = olga.run(["run", "olga", "--hostname", host, "--url", origin("owner")], "owner's connector");
    await registered(ownerConnector);
    expect(await reached(edge, host, users, 4)).toEqual(Array(4).fill("owner"));

    // the thief, with a copy of the same cert.pem, for one minute
    const thief = await machine(dir, edge, "thief", cert.text);
    expect((await thief.tunnel(["create", "spare"])).code).toBe(0);
    expect((await thief.tunnel(["route", "spare", host, "--overwrite"])).code).toBe(0);
    const printed = await wicket(["tunnel", "token", "spare"], { env: thief.env });
    expect(printed.code).toBe(0);
    await using thiefConnector = thief.run(["run", "--token", printed.stdout.trim(), "--hostname", host, "--url", origin("thief")], "thief's connector");
    await registered(thiefConnector);
    expect(await ownerConnector.exited).toBe(EXIT.denied); // the owner lost the hostname
    expect(await reached(edge, host, users, 4)).toEqual(Array(4).fill("thief"));
    // the takeover is audited as the credential's, and the list shows what the credential made
    const overwrite = (await queryAudit(store, { kind: "admin" })).find((r) => r.action === "tunnel.route-overwrite" && r.target === host);
    expect(overwrite?.actor).toContain(`zone credential ${cert.id}`);
    const made = (await listCredentials(edge)).find((c) => c.id === cert.id)!;
    expect(made.tunnels.map((t) => [t.name, t.routes])).toEqual([["olga", []], ["spare", [host]]]);
    expect(await edge.admin(["tunnel-cert", "list"])).toContain("olga,spare");

    const started = performance.now();
    const revoked = await edge.admin(["tunnel-cert", "revoke", cert.id]);
    expect(revoked).toContain(`disabled tunnel spare`);
    expect(revoked).toContain(`${host} now route to no tunnel`);
    // failed before: the thief's connector kept serving on its tunnel token
    expect(await within(thiefConnector.exited, 5_000, "the thief's connector exits")).toBe(EXIT.denied);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(thiefConnector.stderr()).toContain("tunnel disabled: its zone credential was revoked; run `wicket tunnel login`, then `tunnel create` and `route`");
    expect(await routeOf(store, host)).toBeUndefined();
    expect(await reached(edge, host, users, 4)).toEqual(Array(4).fill(""));

    // neither tunnel's token comes back: the thief's, nor the owner's own (made with the same credential)
    for (const [m, args] of [[thief, ["run", "--token", printed.stdout.trim()]], [olga, ["run", "olga"]]] as const) {
      const again = m.run([...args, "--hostname", host, "--url", origin("again")], "restarted connector");
      expect(await again.exited).toBe(EXIT.denied);
      expect(again.stderr()).toContain("tunnel disabled: its zone credential was revoked; run `wicket tunnel login`, then `tunnel create` and `route`");
    }
    const listed = (await listCredentials(edge)).find((c) => c.id === cert.id)!;
    expect(listed.revokedAt).toBeNumber();
    expect(listed.tunnels.every((t) => t.disabled?.includes("was revoked"))).toBe(true);

    // the owner, as the refusal says: a new login, then create and route (the hostname is free)
    const fresh = await credential(store, edge, "site.test", "olga@site.test");
    const olga2 = await machine(dir, edge, "olga-again", fresh.text);
    expect((await olga2.tunnel(["create", "olga-2"])).code).toBe(0);
    expect((await olga2.tunnel(["route", "olga-2", host])).code).toBe(0);
    await using back = olga2.run(["run", "olga-2", "--hostname", host, "--url", origin("owner")], "owner again");
    await registered(back);
    expect(await reached(edge, host, users, 4)).toEqual(Array(4).fill("owner"));
  }, 90_000);

  test("tunnel token --rotate: connectors on the old secret are cut and it is refused; the new token serves", async () => {
    const host = "rot.site.test";
    const users = await edge.app(host);
    const rita = await machine(dir, edge, "rita", (await credential(store, edge, "site.test", "rita@site.test")).text);
    expect((await rita.tunnel(["create", "rot"])).code).toBe(0);
    expect((await rita.tunnel(["route", "rot", host])).code).toBe(0);
    const old = (await wicket(["tunnel", "token", "rot"], { env: rita.env })).stdout.trim();
    await using leaked = rita.run(["run", "--token", old, "--hostname", host, "--url", origin("leaked")], "connector on the old secret");
    await registered(leaked);

    const started = performance.now();
    const rotated = await rita.tunnel(["token", "rot", "--rotate"]);
    expect(rotated.code).toBe(0);
    const fresh = rotated.stdout.trim();
    // failed before: --rotate printed the same token, and the old secret kept working
    expect(fresh).not.toBe(old);
    expect(await within(leaked.exited, 5_000, "the connector on the old secret exits")).toBe(EXIT.denied);
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(leaked.stderr()).toContain("the tunnel secret was rotated; run it with the new token from `wicket tunnel token --rotate`");
    const again = rita.run(["run", "--token", old, "--hostname", host, "--url", origin("leaked")], "old secret again");
    expect(await again.exited).toBe(EXIT.denied);
    expect(again.stderr()).toContain("the tunnel's credentials were refused (deleted, rotated or wrong); get new ones: `wicket tunnel token NAME --rotate`");

    // the new token, and the credentials file it replaced, serve
    await using a = rita.run(["run", "--token", fresh, "--hostname", host, "--url", origin("rot")], "new token");
    await using b = rita.run(["run", "rot", "--hostname", host, "--url", origin("rot")], "new credentials file");
    await Promise.all([registered(a), registered(b)]);
    expect(await reached(edge, host, users, 6)).toEqual(Array(6).fill("rot"));
  }, 60_000);

  test("a tunnel's secret expires no later than the credential that made it, and its connector is cut then", async () => {
    const host = "exp.site.test";
    await edge.app(host);
    const cert = await credential(store, edge, "site.test", "eli@site.test", { lifetimeMs: 8_000 });
    const eli = await machine(dir, edge, "eli", cert.text);
    const created = await eli.tunnel(["create", "short", "--json"]);
    expect(created.code).toBe(0);
    // failed before: a tunnel's secret had no end, whatever its credential's
    expect((JSON.parse(created.stdout) as { secretExpiresAt?: number }).secretExpiresAt).toBe(cert.expiresAt);
    expect((await eli.tunnel(["route", "short", host])).code).toBe(0);
    const token = (await wicket(["tunnel", "token", "short"], { env: eli.env })).stdout.trim();
    await using p = eli.run(["run", "--token", token, "--hostname", host, "--url", origin("short")], "short-lived tunnel");
    await registered(p);
    expect(await within(p.exited, 15_000, "the connector exits when the secret expires")).toBe(EXIT.denied);
    expect(Date.now()).toBeGreaterThanOrEqual(cert.expiresAt - 50);
    expect(p.stderr()).toContain("with its zone credential; run `wicket tunnel login`");
    const again = eli.run(["run", "--token", token, "--hostname", host, "--url", origin("short")], "expired tunnel again");
    expect(await again.exited).toBe(EXIT.denied);
    expect(again.stderr()).toContain("run `wicket tunnel login`, `tunnel token --rotate`");
  }, 30_000);

  test("removing a group: zone admin revokes the credentials obtained through it alone, and disables what they made", async () => {
    await edge.app("g.site.test");
    const kimHost = "k.site.test";
    const kimUsers = await edge.app(kimHost);
    await edge.admin(["zone", "edit", "site.test", "--add-admin", "group:ops", "--add-admin", "kim@site.test"]);
    const gus = await credential(store, edge, "site.test", "gus@site.test", { grantedBy: ["group:ops"] });
    const kim = await credential(store, edge, "site.test", "kim@site.test", { grantedBy: ["email:kim@site.test", "group:ops"] });
    const gusBox = await machine(dir, edge, "gus", gus.text);
    expect((await gusBox.tunnel(["create", "gus"])).code).toBe(0);
    expect((await gusBox.tunnel(["route", "gus", "g.site.test"])).code).toBe(0);
    const gusToken = (await wicket(["tunnel", "token", "gus"], { env: gusBox.env })).stdout.trim();
    await using gusConnector = gusBox.run(["run", "--token", gusToken, "--hostname", "g.site.test", "--url", origin("gus")], "gus's tunnel");
    await using gusSeed = gusBox.run(["--hostname", "g2.site.test", "--url", origin("gus"), "--origincert", gusBox.file], "gus's one-liner");
    const kimBox = await machine(dir, edge, "kim", kim.text);
    await using kimSeed = kimBox.run(["--hostname", kimHost, "--url", origin("kim"), "--origincert", kimBox.file], "kim's one-liner");
    await Promise.all([registered(gusConnector), registered(gusSeed), registered(kimSeed)]);

    const started = performance.now();
    await edge.admin(["zone", "edit", "site.test", "--remove-admin", "group:ops"]);
    // failed before: removing a group revoked nothing its members had obtained
    const [a, b] = await within(Promise.all([gusConnector.exited, gusSeed.exited]), 5_000, "gus's connectors exit");
    expect([a, b]).toEqual([EXIT.denied, EXIT.denied]);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(gusSeed.stderr()).toContain("was revoked");
    expect(gusConnector.stderr()).toContain("tunnel disabled: its zone credential was revoked");
    // kim is still named by a rule of her own: her credential and connector stay
    expect(await reached(edge, kimHost, kimUsers, 2)).toEqual(["kim", "kim"]);
    const listed = await listCredentials(edge);
    expect(listed.find((c) => c.id === gus.id)?.revokedAt).toBeNumber();
    expect(listed.find((c) => c.id === kim.id)?.revokedAt).toBeUndefined();
    const audit = (await queryAudit(store, { kind: "admin" })).find((r) => r.action === "zone.edit" && r.reason?.includes("removed group:ops"));
    expect(audit?.reason).toContain(`revoked their zone credentials ${gus.id}`);
  }, 60_000);

  // Failed before: removing email:alice revoked all her credentials and deleted her tunnels,
  // even those group:ops still granted her, and the audit did not name the hostnames it unrouted.
  test("removing an email: zone admin means what removing a group: does: what another rule still grants stays; what it alone granted is revoked and its tunnels disabled, not deleted", async () => {
    await edge.admin(["zone", "add", "e.test"]);
    await edge.admin(["zone", "edit", "e.test", "--add-admin", "alice@e.test", "--add-admin", "group:ops"]);
    const both = await credential(store, edge, "e.test", "alice@e.test", { grantedBy: ["email:alice@e.test", "group:ops"] });
    const only = await credential(store, edge, "e.test", "alice@e.test", { grantedBy: ["email:alice@e.test"] });
    const kept = await createTunnel(store, "e.test", "kept", "alice@e.test", madeWith(both));
    const lost = await createTunnel(store, "e.test", "lost", "alice@e.test", madeWith(only));
    await routeHostname(store, kept.tunnel, "kept.e.test");
    await routeHostname(store, lost.tunnel, "lost.e.test");

    await edge.admin(["zone", "edit", "e.test", "--remove-admin", "alice@e.test"]);
    expect([(await getZoneCredential(store, both.id))?.revokedAt, (await getZoneCredential(store, only.id))?.revokedAt !== undefined]).toEqual([undefined, true]);
    expect((await getTunnel(store, kept.tunnel.id))?.disabled).toBeUndefined();
    expect((await routeOf(store, "kept.e.test"))?.id).toBe(kept.tunnel.id);
    expect((await getTunnel(store, lost.tunnel.id))?.disabled).toContain("was revoked");
    expect(await routeOf(store, "lost.e.test")).toBeUndefined();
    const audit = (await queryAudit(store, { kind: "admin" })).find((r) => r.action === "zone.edit" && r.reason?.includes("removed email:alice@e.test"));
    expect(audit?.reason).toBe(`removed email:alice@e.test as admins of zone e.test; revoked their zone credentials ${only.id}; disabled the tunnels those credentials made: lost (${lost.tunnel.id}); unrouted lost.e.test`);
  }, 30_000);
});

// Revocations travel by the store: NOTIFY on PostgreSQL reaches the node that holds the connector.
describe.skipIf(!PG)("two edge nodes on one PostgreSQL store", () => {
  let dirA: TempDir;
  let dirB: TempDir;
  let a: TestEdge;
  let b: TestEdge;
  let store: Store;
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  const procs: Proc[] = [];

  beforeAll(async () => {
    db = await tempDatabase();
    dirA = await tempDir("wicket-revoke-a-");
    a = await startEdge({ dir: dirA, extra: ["--database", db.url] });
    dirB = await tempDir("wicket-revoke-b-");
    mkdirSync(dirB.join("edge"), { recursive: true, mode: 0o700 });
    for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(a.dataDir, f), join(dirB.join("edge"), f));
    b = await startEdge({ dir: dirB, extra: ["--database", db.url] });
    store = await openStore({ url: db.url });
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await store?.close?.();
    await b?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
    await dirA?.[Symbol.asyncDispose]();
    await dirB?.[Symbol.asyncDispose]();
  });

  test("revoking a credential, or removing the group that granted one, through node A cuts the tunnels it made on node B within a second", async () => {
    await a.admin(["zone", "add", "cluster.test", "--admin", "group:ops"]);
    await b.proc.waitForLine(/the zones in the store changed \(now: cluster\.test\)/, { stream: "stderr", timeoutMs: 10_000 });
    const connectorOn = async (who: string, host: string) => {
      const c = await credential(store, b, "cluster.test", who, { grantedBy: ["group:ops"] });
      const m = await machine(dirB, b, who.split("@")[0]!, c.text);
      expect((await m.tunnel(["create", host.split(".")[0]!])).code).toBe(0);
      expect((await m.tunnel(["route", host.split(".")[0]!, host])).code).toBe(0);
      const p = m.run(["run", host.split(".")[0]!, "--hostname", host, "--url", origin(who)], `${who}'s tunnel on node B`);
      procs.push(p);
      await registered(p);
      return { id: c.id, p };
    };
    const thief = await connectorOn("tom@cluster.test", "t.cluster.test");
    const member = await connectorOn("max@cluster.test", "m.cluster.test");

    let started = performance.now();
    await a.admin(["tunnel-cert", "revoke", thief.id]);
    expect(await within(thief.p.exited, 5_000, "the tunnel on node B exits")).toBe(EXIT.denied);
    expect(performance.now() - started).toBeLessThan(1_500);

    started = performance.now();
    await a.admin(["zone", "edit", "cluster.test", "--remove-admin", "group:ops"]);
    expect(await within(member.p.exited, 5_000, "the group member's tunnel on node B exits")).toBe(EXIT.denied);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(member.p.stderr()).toContain("was revoked");
  }, 90_000);
});

for (const backend of BACKENDS) {
  describe(`${backend}: in the store`, () => {
    test("a group rule removed revokes what it alone granted; another rule, an admin's credential and other zones' stay; one with no grants recorded fails closed", () =>
      withStore(backend, async (store) => {
        await addZone(store, "g.test");
        await addZone(store, "other.test");
        await addZoneAdmins(store, "g.test", ["group:ops", "kim@g.test", "lee@g.test"]);
        await addZoneAdmins(store, "other.test", ["group:ops"]);
        const cred = (who: string, grantedBy?: string[], zone = "g.test") => createZoneCredential(store, zone, { obtainedBy: who, ...(grantedBy ? { grantedBy } : {}) });
        const gus = await cred("gus@g.test", ["group:ops"]);
        const kim = await cred("kim@g.test", ["email:kim@g.test", "group:ops"]);
        const elsewhere = await cred("gus@g.test", ["group:ops"], "other.test");
        const admin = await cred("admin:bootstrap");
        const oldLee = await cred("lee@g.test"); // before grants were recorded, and lee is still named
        const oldUna = await cred("una@g.test"); // before grants were recorded: may have come through the group
        const t = await createTunnel(store, "g.test", "gus", "gus@g.test", madeWith(gus));
        await routeHostname(store, t.tunnel, "h.g.test");

        await removeZoneAdmins(store, "g.test", ["group:ops"]);
        const r = await revokeZoneCredentialsGrantedBy(store, "g.test", "group:ops");
        expect(r.credentials.sort()).toEqual([gus.id, oldUna.id].sort());
        expect(r.disabled).toEqual([`gus (${t.tunnel.id})`]);
        for (const c of [kim, elsewhere, admin, oldLee]) expect((await getZoneCredential(store, c.id))?.revokedAt).toBeUndefined();
        expect((await getTunnel(store, t.tunnel.id))?.disabled).toContain("was revoked");
        expect(await routeOf(store, "h.g.test")).toBeUndefined();
      }), 20_000);

    test("a tunnel rotated with a copied credential goes when that one is revoked; the owner's one-liner with a new credential takes its tunnel back", () =>
      withStore(backend, async (store) => {
        await addZone(store, "r.test");
        const own = await createZoneCredential(store, "r.test", { obtainedBy: "ann@r.test" });
        const copied = await createZoneCredential(store, "r.test", { obtainedBy: "ann@r.test" });
        const seed = (await ensureTunnel(store, "r.test", "web.r.test", "ann@r.test", { made: madeWith(own) }))!;
        expect(seed.credentialId).toBe(own.id);
        // the thief rotates the owner's tunnel with the copy: the tunnel is now the copy's
        await rotateTunnelSecret(store, seed.id, madeWith(copied));
        expect((await revokeZoneCredential(store, copied.id)).tunnels.map((t) => t.id)).toEqual([seed.id]);
        expect((await getTunnel(store, seed.id))?.disabled).toContain("tunnel disabled");
        // the owner's credential, still live, takes it on again with a fresh secret
        const back = (await ensureTunnel(store, "r.test", "web.r.test", "ann@r.test", { made: madeWith(own) }))!;
        expect(back).toMatchObject({ id: seed.id, credentialId: own.id });
        expect(back.disabled).toBeUndefined();
      }), 20_000);
  });
}

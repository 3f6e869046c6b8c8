// Upgrades lose nothing: an edge data directory, a zone credential (cert.pem) and a service
// token written by the previous release (test/fixtures/release-0.1.0) work with this one. The
// store migrates at start; the old cert.pem, which has no expiry and no owner, still connects
// its server (the edge makes it a tunnel), and the old token still lets ssh in. Tunnels made
// before the store recorded which credential made them keep working after the upgrade, and
// applications made before resume-grace resume with its default; a node recorded before the
// registry named connector processes is served as before, without resumption.
import { expect, test } from "bun:test";
import { SQL } from "bun";
import { chmodSync, cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hashSecret } from "../lib/auth/secret.ts";
import { MIGRATIONS } from "../lib/store/migrations.ts";
import { createZoneCredential, findApp, foldResumptions, getSignIn, getTunnel, nodesServing, openStore, queryAudit, resumeGap, revokeZoneCredential, verifyTunnelSecret, writeAudit } from "../lib/store/index.ts";
import { BACKENDS, tempDatabase } from "./helpers/store.ts";
import { run, spawnProc } from "./helpers/proc.ts";
import { startFaultProxy } from "./helpers/faultproxy.ts";
import { startSshd } from "./helpers/sshd.ts";
import { tempDir } from "./helpers/tmp.ts";
import { startEdge, WICKET } from "./helpers/wicket.ts";

const FIXTURE = new URL("./fixtures/release-0.1.0/", import.meta.url).pathname;

test("a data directory, cert.pem and service token from release 0.1.0 keep working", async () => {
  await using dir = await tempDir("wicket-upgrade-");
  cpSync(join(FIXTURE, "edge"), dir.join("edge"), { recursive: true });
  chmodSync(dir.join("edge"), 0o700);
  for (const f of ["wicket.db", "admin-token", "ca-key.pem"]) chmodSync(dir.join("edge", f), 0o600);
  const cert = dir.join("cert.pem");
  cpSync(join(FIXTURE, "cert.pem"), cert);
  chmodSync(cert, 0o600);
  const token = { ...(JSON.parse(readFileSync(join(FIXTURE, "token.json"), "utf8")) as { id: string; secret: string }), name: "ci" };

  await using edge = await startEdge({ dir });
  await using sshd = await startSshd();
  // the old credential names the old edge's address: --edge says where it is now
  await using connector = spawnProc([WICKET, "tunnel", "--hostname", "ssh.old.test", "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", cert, "--edge", edge.url, "--ca-file", edge.caFile], { name: "old cert.pem" });
  await connector.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });

  const client = await sshd.client("ssh.old.test", { proxyCommand: edge.proxyCommand(token) });
  const r = await run(["ssh", ...client.args, "ssh.old.test", "echo upgraded"]);
  expect([r.code, r.stdout]).toEqual([0, "upgraded\n"]);

  // its application, written before resume-grace, resumes with the default grace of 2 minutes
  await using proxy = await startFaultProxy({ port: edge.port });
  const through = await sshd.client("ssh.old.test", { proxyCommand: edge.proxyCommand(token, ["--loglevel", "info"]).replace(edge.url, proxy.url) });
  const counter = spawnProc(["ssh", ...through.args, "ssh.old.test", "for i in $(seq 1 20); do echo $i; sleep 0.1; done"], { name: "ssh counter" });
  await counter.waitForLine(/^3$/, { stream: "stdout" });
  for (const c of proxy.live()) c.cut();
  await connector.waitForLine(/lost its path .*keeping its origin for 120 s/, { stream: "stderr" });
  expect(await counter.exited, counter.output()).toBe(0);
  expect(counter.stdout().trim().split("\n")).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
  expect(counter.stderr()).toMatch(/resumed after \d+\.\d s/);
  const [app] = JSON.parse(await edge.admin(["app", "list", "--json"])) as { resumeGraceMs: number; resumeGraceSet: boolean }[];
  expect(app).toMatchObject({ resumeGraceMs: 120_000, resumeGraceSet: false });

  // the old credential is listed, with no expiry recorded, and is still revocable
  const creds = JSON.parse(await edge.admin(["tunnel-cert", "list", "--json"])) as { id: string; zone: string; expiresAt?: number; lastUsedAt?: number }[];
  expect(creds).toHaveLength(1);
  expect(creds[0]).toMatchObject({ zone: "old.test" });
  expect(creds[0]!.expiresAt).toBeUndefined();
  expect(creds[0]!.lastUsedAt).toBeNumber();
  const tunnels = JSON.parse(await edge.admin(["tunnel", "list", "--json"])) as { name: string; routes: string[] }[];
  expect(tunnels).toMatchObject([{ name: "ssh.old.test", routes: ["ssh.old.test"] }]);
  // and the tunnel it made is listed with it: what its revocation would disable
  const listed = JSON.parse(await edge.admin(["tunnel-cert", "list", "--json"])) as { tunnels: { name: string }[] }[];
  expect(listed[0]!.tunnels.map((t) => t.name)).toEqual(["ssh.old.test"]);
}, 30_000);

/** The schema as it was before migration `version`, on SQLite in `dir` or on a new PostgreSQL database. */
async function schemaBefore(version: number, where: { dir: string } | { url: string }): Promise<SQL> {
  const sql = "dir" in where ? new SQL({ adapter: "sqlite", filename: join(where.dir, "wicket.db"), create: true, readwrite: true }) : new SQL(where.url);
  await sql.unsafe(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`);
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version).filter((m) => m.version < version)) {
    for (const stmt of m.statements) await sql.unsafe(stmt);
    await sql`INSERT INTO schema_migrations (version, applied_at) VALUES (${m.version}, ${Date.now()})`;
  }
  return sql;
}

for (const backend of BACKENDS) {
  test(`${backend}: tunnels made before their credential was recorded keep working after the upgrade, until a credential of their owner is revoked`, async () => {
    await using dir = await tempDir("wicket-upgrade-tunnels-");
    await using db = backend === "postgres" ? await tempDatabase() : undefined;
    const where: { dir: string } | { url: string } = db ? { url: db.url } : { dir: dir.path };
    const old = await schemaBefore(123, where);
    const now = Date.now();
    await old`INSERT INTO zones (name, created_at) VALUES ('old.test', ${now})`;
    // as the release before wrote them: a credential of a person with its tunnel, and an
    // owner-less credential that owned its seed-form tunnel itself
    await old`INSERT INTO zone_credentials (id, zone, secret_hash, created_at, obtained_by, expires_at) VALUES ('wzc_00000000000000aa', 'old.test', ${hashSecret("a")}, ${now}, 'ann@old.test', ${now + 86_400_000})`;
    await old`INSERT INTO zone_credentials (id, zone, secret_hash, created_at, obtained_by) VALUES ('wzc_00000000000000bb', 'old.test', ${hashSecret("b")}, ${now}, '')`;
    await old`INSERT INTO tunnels (id, name, zone, secret_hash, created_by, created_at) VALUES ('wtn_00000000000000aa', 'ann', 'old.test', ${hashSecret("ann-secret")}, 'ann@old.test', ${now})`;
    await old`INSERT INTO tunnels (id, name, zone, secret_hash, created_by, created_at) VALUES ('wtn_00000000000000bb', 'seed', 'old.test', ${hashSecret("seed-secret")}, 'wzc_00000000000000bb', ${now})`;
    await old`INSERT INTO tunnel_routes (hostname, tunnel_id, created_at) VALUES ('ann.old.test', 'wtn_00000000000000aa', ${now})`;
    await old.close();

    await using store = await openStore(db ? { url: db.url } : { dataDir: dir.path });
    expect(await verifyTunnelSecret(store, "wtn_00000000000000aa", "ann-secret")).toMatchObject({ id: "wtn_00000000000000aa", name: "ann" });
    expect(await getTunnel(store, "wtn_00000000000000aa")).toMatchObject({ routes: ["ann.old.test"] });
    // no credential recorded: another person's credential revoked leaves it be; the first of
    // ann's revoked takes it along (any of hers may have made it, a copied one too)
    const bob = await createZoneCredential(store, "old.test", { obtainedBy: "bob@old.test" });
    expect((await revokeZoneCredential(store, bob.id)).tunnels).toEqual([]);
    expect((await getTunnel(store, "wtn_00000000000000aa"))?.disabled).toBeUndefined();
    expect((await revokeZoneCredential(store, "wzc_00000000000000aa")).tunnels).toEqual([{ id: "wtn_00000000000000aa", name: "ann", routes: ["ann.old.test"] }]);
    expect(await verifyTunnelSecret(store, "wtn_00000000000000aa", "ann-secret")).toEqual({ refused: expect.stringContaining("tunnel disabled") });
    // the seed-form tunnel of an owner-less credential was made by it: exact, so it goes with it
    expect(await getTunnel(store, "wtn_00000000000000bb")).toMatchObject({ credentialId: "wzc_00000000000000bb" });
    expect((await revokeZoneCredential(store, "wzc_00000000000000bb")).tunnels.map((t) => t.name)).toEqual(["seed"]);
    expect(await verifyTunnelSecret(store, "wtn_00000000000000bb", "seed-secret")).toEqual({ refused: expect.stringContaining("tunnel disabled") });
  }, 20_000);

  test(`${backend}: applications and audit rows written before resume-grace read with the default grace; a resume's rows join its session`, async () => {
    await using dir = await tempDir("wicket-upgrade-grace-");
    await using db = backend === "postgres" ? await tempDatabase() : undefined;
    const old = await schemaBefore(128, db ? { url: db.url } : { dir: dir.path });
    const now = Date.now();
    await old`INSERT INTO zones (name, created_at) VALUES ('old.test', ${now})`;
    await old`INSERT INTO apps (hostname, zone, created_at, session_length_ms, allow_system_principals, ssh_extensions) VALUES ('ssh.old.test', 'old.test', ${now}, NULL, 0, '')`;
    await old`INSERT INTO audit (id, at, kind, allowed, host, session_id, reason) VALUES ('aud_0', ${now}, 'decision', 1, 'ssh.old.test', 'ses_old', 'allowed')`;
    await old.close();

    await using store = await openStore(db ? { url: db.url } : { dataDir: dir.path });
    expect(await findApp(store, "ssh.old.test")).toMatchObject({ resumeGraceMs: 120_000, resumeGraceSet: false });
    const [row] = await queryAudit(store, { session: "ses_old" });
    expect(row).toMatchObject({ id: "aud_0", sessionId: "ses_old" });
    expect(row!.resumes).toBeUndefined();
    // a resume of that session, after its path ended 2 s before: the gap, and one session with its resumption
    await writeAudit(store, { kind: "session-end", host: "ssh.old.test", sessionId: "ses_old", reason: "the client disconnected; it may resume" }, now + 1000);
    const gapMs = await resumeGap(store, "ses_old", now + 3000);
    expect(gapMs).toBe(2000);
    await writeAudit(store, { kind: "decision", allowed: true, host: "ssh.old.test", ip: "10.0.0.9", sessionId: "ses_new", resumes: "ses_old", gapMs }, now + 3000);
    await writeAudit(store, { kind: "session-end", host: "ssh.old.test", sessionId: "ses_new", resumes: "ses_old", reason: "ended normally" }, now + 4000);
    const session = foldResumptions(await queryAudit(store, { session: "ses_old" }));
    expect(session.map((r) => [r.kind, r.sessionId])).toEqual([["decision", "ses_old"], ["session-end", "ses_old"], ["session-end", "ses_new"]]);
    expect(session[0]!.resumptions).toEqual([{ at: now + 3000, from: "10.0.0.9", gapMs: 2000, sessionId: "ses_new" }]);
  }, 20_000);

  test(`${backend}: a node's hostnames recorded before the registry named connector processes read as served by none that resumes`, async () => {
    await using dir = await tempDir("wicket-upgrade-nodes-");
    await using db = backend === "postgres" ? await tempDatabase() : undefined;
    const old = await schemaBefore(129, db ? { url: db.url } : { dir: dir.path });
    const now = Date.now();
    // as a node of the release before writes them, during a rolling upgrade too
    await old`INSERT INTO edge_nodes (id, peer_url, version, started_at, heartbeat_at, draining) VALUES ('wnd_old', 'https://old', '0', ${now}, ${now}, 0)`;
    await old`INSERT INTO node_hostnames (node_id, hostname, connections) VALUES ('wnd_old', 'ssh.old.test', 2)`;
    await old.close();

    await using store = await openStore(db ? { url: db.url } : { dataDir: dir.path });
    // its peers open its streams without resumption, as before
    expect(await nodesServing(store, "ssh.old.test", "wnd_new", 60_000)).toEqual([{ id: "wnd_old", peerUrl: "https://old", processes: [] }]);
  }, 20_000);

  test(`${backend}: a sign-in session written before sessions carried their sign-in's time reads as signed in when it was made`, async () => {
    await using dir = await tempDir("wicket-upgrade-signin-");
    await using db = backend === "postgres" ? await tempDatabase() : undefined;
    const old = await schemaBefore(130, db ? { url: db.url } : { dir: dir.path });
    const now = Date.now();
    await old`INSERT INTO org_sessions (id, secret_hash, kind, email, idp, groups, amr, ip, created_at, expires_at) VALUES ('ses_old', 'x', 'admin', 'ann@old.test', 'email', '[]', '[]', '10.0.0.1', ${now - 1000}, ${now + 60_000})`;
    await old.close();

    await using store = await openStore(db ? { url: db.url } : { dataDir: dir.path });
    // a refreshed `edge login` counts its week from there
    expect(await getSignIn(store, "ses_old")).toMatchObject({ createdAt: now - 1000, signedInAt: now - 1000 });
  }, 20_000);
}

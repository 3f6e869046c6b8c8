// People as admins, through the real edge and CLI: `wicket edge login` (the device flow, the
// code typed and approved in a browser signed in with a PIN), then `wicket edge …` as that
// person with no admin token: an edge admin (edge.yaml's admins:) sees every zone; a zone
// admin works in their zone, is refused outside it with one sentence, and is named in the
// audit; a signed-in person who administers nothing is told so; a removed admin loses access
// on the next call; a token given wins; `edge logout` ends the session at the edge; a login
// close to its end is refreshed by the next command (not for a removed admin), and one that
// has ended says in one sentence to sign in again. Refreshed at the token endpoint by hand, as an
// attacker would: one new session however many ask at once, none for a revoked user or
// an admin token, and a zone admin's stays a zone admin's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { client, pinFromLog, pinIdIn } from "./helpers/signin.ts";
import { expectExit, spawnProc, type Env } from "./helpers/proc.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, WICKET, type TestEdge } from "./helpers/wicket.ts";
import { CLIENT_ID, TOKEN_PATH } from "../lib/wire/http.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { openStore } from "../lib/store/index.ts";
import { ADMIN_LOGIN_MAX_MS } from "../lib/edge/signin/oauth.ts";

let dir: TempDir;
let edge: TestEdge;
let ip = 1;

/** Signs `email` in with `wicket edge login`, approving in a browser-like client with a PIN; the laptop's environment. */
async function edgeLogin(email: string, on = edge): Promise<Env> {
  const home = dir.join(`home-${email}${on === edge ? "" : `-${on.port}`}`);
  const env: Env = { WICKET_HOME: home, WICKET_NO_BROWSER: "1" };
  await using login = spawnProc([WICKET, "edge", "login", "--edge", on.url, "--ca-file", on.caFile], { env, name: `edge login ${email}` });
  const [, code] = await login.waitForLine(/type the code ([A-Z]{4}-[A-Z]{4})/, { stream: "stderr", timeoutMs: 30_000 });
  const browser = await client(on, `10.9.0.${ip++}`);
  const pinId = pinIdIn((await browser.askPin(email)).text)!;
  expect((await browser.guess(pinId, await pinFromLog(on, email))).status).toBe(303);
  const typing = await browser.get(`/device`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(typing.text)![1]!;
  const confirm = await browser.send("/device", { csrf, user_code: code!, action: "continue" });
  expect(confirm.text).toContain("Administer this edge as you?");
  const done = await browser.send("/device", { csrf, user_code: code!, action: "approve" });
  expect(done.text).toContain("now administers as you");
  expect(await login.exited, login.output()).toBe(0);
  const file = join(home, "edge-admin.json");
  expect(login.stdout().trim()).toBe(file);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  return env;
}

/** `wicket edge <args>` as the person signed in on that laptop: no token, no data directory. */
const as = (env: Env, args: string[]) => wicket(["edge", ...args], { env });

type SavedLogin = { token: string; expiresAt: number };
const savedLogin = (env: Env) => JSON.parse(readFileSync(join(env.WICKET_HOME!, "edge-admin.json"), "utf8")) as SavedLogin;
/** Moves the saved login's end, as time passing would (the edge keeps its own, later, end). */
const endsIn = (env: Env, ms: number) => writeFileSync(join(env.WICKET_HOME!, "edge-admin.json"), JSON.stringify({ ...savedLogin(env), expiresAt: Date.now() + ms }));

/** `grant_type=refresh_token&scope=admin` at the edge's token endpoint, by hand. */
async function refreshAt(token: string, on = edge): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${on.url}${TOKEN_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: CLIENT_ID, scope: "admin", refresh_token: token }),
    tls: { ca: readFileSync(on.caFile, "utf8") },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** GET /api/v1/<path> with this bearer. */
const apiAs = (token: string, path: string, on = edge) => fetch(`${on.url}/api/v1/${path}`, { headers: { authorization: `Bearer ${token}` }, tls: { ca: readFileSync(on.caFile, "utf8") } });

/** Bob's login refreshed by six requests at once on `on`: one new session, a zone admin's still. */
async function refreshedOnce(on: TestEdge) {
  const bob = await edgeLogin("bob@b.test", on);
  const { token } = savedLogin(bob);
  const answers = await Promise.all(Array.from({ length: 6 }, () => refreshAt(token, on)));
  const ok = answers.filter((a) => a.status === 200);
  expect(answers.map((a) => a.status).sort(), "only one refresh of one session succeeds").toEqual([200, 400, 400, 400, 400, 400]);
  for (const a of answers.filter((x) => x.status !== 200)) expect(a.body).toEqual({ error: "invalid_grant", error_description: "the admin sign-in has ended or was revoked; run `wicket edge login` to sign in again" });
  // the one new session works, as the zone admin it was: no wider
  const fresh = String(ok[0]!.body.access_token);
  expect((await apiAs(fresh, "apps", on)).status).toBe(200);
  const nodes = await apiAs(fresh, "nodes", on);
  expect({ status: nodes.status, body: await nodes.json() }).toMatchObject({ status: 403, body: { error: expect.stringContaining("only an edge admin may do this") } });
}

beforeAll(async () => {
  dir = await tempDir("wicket-admin-login-");
  const config = dir.join("edge.yaml");
  writeFileSync(config, "dev: true\ntrusted-proxies: 127.0.0.1\nadmins: [email:root@ops.test]\n");
  edge = await startEdge({ dir, extra: ["--config", config] });
  await edge.admin(["zone", "add", "a.test", "--admin", "alice@a.test"]);
  await edge.admin(["zone", "add", "b.test", "--admin", "bob@b.test"]);
  for (const h of ["ssh.a.test", "ssh.b.test"]) await edge.admin(["app", "add", h]);
  // carol may reach an application, so she gets a PIN; she administers nothing
  await edge.admin(["policy", "add", "ssh.a.test", "--name", "carol", "--action", "allow", "--include", "email:carol@a.test"]);
}, 60_000);

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("wicket edge login", () => {
  test("a zone admin: their zone's applications, a policy added as them and audited with their name and address; another zone's refused", async () => {
    const alice = await edgeLogin("alice@a.test");
    const apps = JSON.parse(expectExit(await as(alice, ["app", "list", "--json"])).stdout) as { hostname: string }[];
    expect(apps.map((a) => a.hostname)).toEqual(["ssh.a.test"]);
    expectExit(await as(alice, ["policy", "add", "ssh.a.test", "--name", "team", "--action", "allow", "--include", "domain:a.test"]));
    const audit = (await edge.admin(["audit", "--user", "alice@a.test", "--json"])).trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(audit.find((r) => r.action === "policy.add")).toMatchObject({ actor: "alice@a.test", identity: "alice@a.test (email)", email: "alice@a.test", ip: "127.0.0.1" });
    const other = await as(alice, ["policy", "add", "ssh.b.test", "--name", "mine", "--action", "allow", "--include", "everyone"]);
    expect(other.code).toBe(77);
    expect(other.stderr.trim().split("\n")).toHaveLength(1);
    expect(other.stderr).toContain("alice@a.test administers the zone a.test, and the application ssh.b.test is not in them; ask an admin of its zone");
    const wide = await as(alice, ["node", "list"]);
    expect(wide.code).toBe(77);
    expect(wide.stderr).toContain("only an edge admin may do this");
    // a token given still wins over the login
    const boot = JSON.parse(expectExit(await wicket(["edge", "app", "list", "--json", "--data-dir", edge.dataDir], { env: alice })).stdout) as unknown[];
    expect(boot).toHaveLength(2);

    // taken off the zone: refused on the next call
    await edge.admin(["zone", "edit", "a.test", "--remove-admin", "alice@a.test"]);
    const after = await as(alice, ["app", "list"]);
    expect(after.code).toBe(77);
    expect(after.stderr).toContain("alice@a.test (signed in with email) administers nothing on this edge");
  }, 60_000);

  test("an edge admin from edge.yaml sees every zone and may change edge-wide settings", async () => {
    const root = await edgeLogin("root@ops.test");
    const zones = JSON.parse(expectExit(await as(root, ["zone", "list", "--json"])).stdout) as { name: string }[];
    expect(zones.map((z) => z.name)).toEqual(["a.test", "b.test"]);
    expectExit(await as(root, ["zone", "add", "c.test", "--admin", "carol@a.test"]));
    const made = JSON.parse(expectExit(await as(root, ["admin-token", "create", "ci-c", "--zone", "c.test", "--json"])).stdout) as { zone: string };
    expect(made.zone).toBe("c.test");
    expect(await edge.admin(["audit", "--user", "root@ops.test"])).toContain("admin-token.create");
  }, 60_000);

  test("a signed-in person who administers nothing is told so in one sentence; logout ends the session at the edge", async () => {
    await edge.admin(["zone", "edit", "c.test", "--remove-admin", "carol@a.test"]);
    const carol = await edgeLogin("carol@a.test");
    const r = await as(carol, ["app", "list"]);
    expect(r.code).toBe(77);
    expect(r.stderr.trim()).toMatch(/carol@a\.test \(signed in with email\) administers nothing on this edge; an edge admin can make you a zone's admin with: wicket edge zone edit <zone> --add-admin carol@a\.test$/);
    const saved = JSON.parse(await Bun.file(join(carol.WICKET_HOME!, "edge-admin.json")).text()) as { token: string };
    expectExit(await wicket(["edge", "logout"], { env: carol }));
    const gone = await as(carol, ["app", "list"]);
    expect(gone.code).toBe(64);
    expect(gone.stderr).toContain("no edge to talk to");
    // the session itself is over, not only forgotten here
    const reused = await wicket(["edge", "app", "list", "--edge", edge.url, "--ca-file", edge.caFile, "--admin-token", saved.token], { env: carol });
    expect(reused.code).toBe(77);
    expect(reused.stderr).toContain("was refused");
  }, 60_000);

  test("a login close to its end is refreshed by the next command: a new session at the edge, the old one ended", async () => {
    const bob = await edgeLogin("bob@b.test");
    const first = savedLogin(bob);
    endsIn(bob, 60_000);
    const apps = JSON.parse(expectExit(await as(bob, ["app", "list", "--json"])).stdout) as { hostname: string }[];
    expect(apps.map((a) => a.hostname)).toEqual(["ssh.b.test"]);
    const now = savedLogin(bob);
    expect(now.token).not.toBe(first.token);
    expect(now.expiresAt).toBeGreaterThan(Date.now() + 3_600_000);
    expect(statSync(join(bob.WICKET_HOME!, "edge-admin.json")).mode & 0o777).toBe(0o600);
    const old = await wicket(["edge", "app", "list", "--edge", edge.url, "--ca-file", edge.caFile, "--admin-token", first.token], { env: bob });
    expect(old.code, "the session refreshed away is refused").toBe(77);
    // and it keeps working as the refreshed login
    expectExit(await as(bob, ["zone", "list"]));
  }, 60_000);

  test("a login is renewed up to ADMIN_LOGIN_MAX_MS after its sign-in at the identity provider, and no further", async () => {
    const bob = await edgeLogin("bob@b.test");
    const sessionId = (token: string) => token.slice(0, token.indexOf("."));
    await using store = await openStore({ dataDir: edge.dataDir });
    // signed in at the provider almost a week ago (the refreshes between are as good as none)
    const signedInAt = Date.now() - ADMIN_LOGIN_MAX_MS + 30 * 60_000;
    await store.sql`UPDATE org_sessions SET signed_in_at = ${signedInAt} WHERE id = ${sessionId(savedLogin(bob).token)}`;
    endsIn(bob, 60_000);
    expectExit(await as(bob, ["app", "list"]));
    // renewed, but only to the end of the week: the groups are the provider's of a week ago
    const renewed = savedLogin(bob);
    expect(renewed.expiresAt).toBeLessThanOrEqual(signedInAt + ADMIN_LOGIN_MAX_MS + 1_000);
    // a session of a sign-in older than that (made before the limit) is not renewed at all
    await store.sql`UPDATE org_sessions SET signed_in_at = ${Date.now() - ADMIN_LOGIN_MAX_MS - 60_000} WHERE id = ${sessionId(renewed.token)}`;
    const r = await refreshAt(renewed.token);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/is renewed for 7 days at most; run `wicket edge login` to sign in again$/) });
  }, 60_000);

  test("a login that has ended says, in one sentence and exit 77, to run wicket edge login", async () => {
    const bob = await edgeLogin("bob@b.test");
    endsIn(bob, -1000);
    const r = await as(bob, ["app", "list"]);
    expect(r.code).toBe(77);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr.trim()).toEndWith(`your admin sign-in to ${new URL(edge.url).origin} has ended; run \`wicket edge login\` to sign in again`);
  }, 60_000);

  test("an admin login is swapped once: of refreshes sent at once, one gets a new session and the rest one sentence", () => refreshedOnce(edge), 60_000);

  test("a refresh gives nothing to a revoked user, to an admin token or to a made-up one", async () => {
    await edge.admin(["zone", "add", "e.test", "--admin", "erin@e.test"]);
    await edge.admin(["policy", "add", "ssh.a.test", "--name", "erin", "--action", "allow", "--include", "email:erin@e.test"]);
    const erin = await edgeLogin("erin@e.test");
    await edge.admin(["user", "revoke", "erin@e.test"]);
    const revoked = await refreshAt(savedLogin(erin).token);
    expect(revoked.status).toBe(400);
    expect(["invalid_grant", "access_denied"]).toContain(String(revoked.body.error));
    const bootstrap = readFileSync(join(edge.dataDir, "admin-token"), "utf8").trim();
    for (const given of [bootstrap, "", "wks_nothing.secret"]) expect((await refreshAt(given)).body.error).toBe("invalid_grant");
  }, 60_000);

  test("a removed admin cannot refresh their login: the edge refuses it with one sentence", async () => {
    await edge.admin(["zone", "add", "d.test", "--admin", "dave@d.test"]);
    await edge.admin(["policy", "add", "ssh.a.test", "--name", "dave", "--action", "allow", "--include", "email:dave@d.test"]);
    const dave = await edgeLogin("dave@d.test");
    expectExit(await as(dave, ["zone", "list"]));
    await edge.admin(["zone", "edit", "d.test", "--remove-admin", "dave@d.test"]);
    const before = savedLogin(dave);
    endsIn(dave, 60_000);
    const r = await as(dave, ["zone", "list"]);
    expect(r.code).toBe(77);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("dave@d.test (signed in with email) administers nothing on this edge");
    expect(savedLogin(dave).token, "no new session was saved").toBe(before.token);
  }, 60_000);
});

// on PostgreSQL the requests truly overlap in the store: each one of them could swap the session
describe.skipIf(!PG)("wicket edge login on PostgreSQL", () => {
  let pg: TestEdge;
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let pgDir: TempDir;
  beforeAll(async () => {
    db = await tempDatabase();
    pgDir = await tempDir("wicket-admin-login-pg-");
    writeFileSync(pgDir.join("edge.yaml"), "dev: true\ntrusted-proxies: 127.0.0.1\n");
    pg = await startEdge({ dir: pgDir, extra: ["--config", pgDir.join("edge.yaml"), "--database", db.url] });
    await pg.admin(["zone", "add", "b.test", "--admin", "bob@b.test"]);
    await pg.admin(["app", "add", "ssh.b.test"]);
  }, 60_000);
  afterAll(async () => {
    await pg?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
    await pgDir?.[Symbol.asyncDispose]();
  });

  test("an admin login is swapped once: of refreshes sent at once, one gets a new session and the rest one sentence", () => refreshedOnce(pg), 60_000);
});

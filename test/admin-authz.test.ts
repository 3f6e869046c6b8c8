// Who may call what on the admin API: a zone's admin token against another zone's resources,
// by name and by id, against the nested zone of another admin and against edge-wide routes; a
// read-only token against writes; revoked and expired tokens; the bootstrap token retired.
// The API on a bare Bun.serve on port 0 over a real store; the callers are real admin tokens.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { setupLog } from "../lib/cli/log.ts";
import { ADMIN_ROUTES, handleAdmin, type AdminContext } from "../lib/edge/admin/api.ts";
import { ACCESS } from "../lib/edge/admin/access.ts";
import {
  addApp,
  addPolicy,
  addZone,
  createAdminToken,
  createServiceToken,
  createTunnel,
  createZoneCredential,
  ensureBootstrapAdminToken,
  openStore,
  queryAudit,
  setServiceTokenZone,
  startRecording,
  writeAudit,
  type Store,
} from "../lib/store/index.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";

let dir: TempDir;
let store: Store;
let server: Server<undefined>;
let bootstrap: string;
/** Tokens: zone a.test read-write and read-only, zone b.test. */
const tok = { a: "", aRead: "", b: "" };
/** Zone b.test's things, and the nested zone eu.a.test's, by id. */
const theirs = { policy: "", token: "", tokenName: "b-deploy", credential: "", tunnel: "", recording: "", session: "sess-b-1", nestedPolicy: "" };

const call = async (token: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(new URL(`/api/v1/${path}`, server.url), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text };
};

/** A 403 whose error is one sentence. */
function refused(r: { status: number; body: { error?: string } }, what: string) {
  expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(403);
  expect(r.body.error).toMatch(/^[^\n]+[a-z)"]$/);
  expect(r.body.error!.split(/; |\. /).length).toBeLessThanOrEqual(3);
}

beforeAll(async () => {
  setupLog("silent");
  dir = await tempDir();
  store = await openStore({ dataDir: dir.path });
  await ensureBootstrapAdminToken(store, dir.path);
  bootstrap = (await Bun.file(dir.join("admin-token")).text()).trim();
  for (const z of ["a.test", "b.test", "eu.a.test"]) await addZone(store, z);
  for (const h of ["ssh.a.test", "ssh.b.test", "x.eu.a.test"]) await addApp(store, h);
  await addPolicy(store, { app: "ssh.a.test", name: "a-team", action: "allow", include: ["domain:a.test"] });
  theirs.policy = (await addPolicy(store, { app: "ssh.b.test", name: "b-team", action: "allow", include: ["domain:b.test"] })).id;
  theirs.nestedPolicy = (await addPolicy(store, { app: "x.eu.a.test", name: "eu-team", action: "allow", include: ["domain:eu.a.test"] })).id;
  const bToken = await createServiceToken(store, theirs.tokenName);
  await setServiceTokenZone(store, bToken.id, "b.test");
  theirs.token = bToken.id;
  theirs.credential = (await createZoneCredential(store, "b.test", { obtainedBy: "bob@b.test" })).id;
  theirs.tunnel = (await createTunnel(store, "b.test", "web", "bob@b.test")).tunnel.id;
  await createTunnel(store, "a.test", "web", "alice@a.test");
  theirs.recording = (await startRecording(store, { sessionId: "sess-b-0", app: "ssh.b.test", host: "ssh.b.test", identity: "bob@b.test", principal: "bob", input: false }, '{"version":2}')).id;
  await writeAudit(store, { kind: "decision", allowed: true, identity: "bob@b.test", host: "ssh.b.test", app: "ssh.b.test", ip: "10.0.0.2", sessionId: theirs.session, reason: "allowed" });
  await writeAudit(store, { kind: "decision", allowed: true, identity: "alice@a.test", host: "ssh.a.test", app: "ssh.a.test", ip: "10.0.0.1", sessionId: "sess-a-1", reason: "allowed" });
  tok.a = (await createAdminToken(store, "a-ci", { zone: "a.test" })).token;
  tok.aRead = (await createAdminToken(store, "a-read", { zone: "a.test", readOnly: true })).token;
  tok.b = (await createAdminToken(store, "b-ci", { zone: "b.test" })).token;
  const ctx: AdminContext = { store, publicUrl: "https://edge.example.test", onZonesChanged: async () => {} };
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req, srv) => handleAdmin(req, { ...ctx, ip: srv.requestIP(req)?.address }) });
});

afterAll(async () => {
  server?.stop(true);
  await store?.close();
  await dir?.remove();
});

describe("every route says what it touches", () => {
  test("each route of the admin API has an entry in the access table, and the table names no route that is not there", () => {
    expect(ADMIN_ROUTES.filter((r) => !ACCESS[r])).toEqual([]);
    expect(Object.keys(ACCESS).filter((r) => !ADMIN_ROUTES.includes(r))).toEqual([]);
  });
});

describe("a zone's admin token sees its zone only", () => {
  test("listings hold a.test's things and nothing of b.test or the nested eu.a.test", async () => {
    expect((await call(tok.a, "GET", "zones")).body.zones.map((z: { name: string }) => z.name)).toEqual(["a.test"]);
    expect((await call(tok.a, "GET", "apps")).body.apps.map((a: { hostname: string }) => a.hostname)).toEqual(["ssh.a.test"]);
    expect((await call(tok.a, "GET", "apps?zone=b.test")).body.apps).toEqual([]);
    expect((await call(tok.a, "GET", "policies")).body.policies.map((p: { name: string }) => p.name)).toEqual(["a-team"]);
    expect((await call(tok.a, "GET", "policies?app=ssh.b.test")).body.policies).toEqual([]);
    expect((await call(tok.a, "GET", "tokens")).body.tokens).toEqual([]);
    expect((await call(tok.a, "GET", "tunnel-certs")).body.credentials).toEqual([]);
    expect((await call(tok.a, "GET", "tunnels")).body.tunnels.map((t: { zone: string }) => t.zone)).toEqual(["a.test"]);
    expect((await call(tok.a, "GET", "recordings")).body.recordings).toEqual([]);
    const audit = (await call(tok.a, "GET", "audit")).body.records as { host?: string }[];
    expect(audit.map((r) => r.host)).toEqual(["ssh.a.test"]);
    expect((await call(tok.a, "GET", "admin-tokens")).body.tokens.map((t: { name: string }) => t.name).sort()).toEqual(["a-ci", "a-read"]);
    // the edge admin sees all of it
    expect((await call(bootstrap, "GET", "apps")).body.apps).toHaveLength(3);
    expect((await call(bootstrap, "GET", "audit")).body.records).toHaveLength(2);
  });

  test("another zone's things by name: 403 with one sentence, and nothing changes", async () => {
    refused(await call(tok.a, "PATCH", "apps/ssh.b.test", { sessionLengthMs: 3_600_000 }), "edit b's app");
    refused(await call(tok.a, "PATCH", "apps/ssh.b.test", { resumeGraceMs: 0 }), "turn off resuming at b's app");
    refused(await call(tok.a, "DELETE", "apps/ssh.b.test"), "remove b's app");
    refused(await call(tok.a, "POST", "apps", { hostname: "new.b.test" }), "add an app in b");
    refused(await call(tok.a, "POST", "policies", { app: "ssh.b.test", name: "mine", action: "allow", include: ["everyone"] }), "add a policy to b's app");
    refused(await call(tok.a, "POST", "policy-test", { host: "ssh.b.test", email: "x@b.test" }), "what-if on b's app");
    refused(await call(tok.a, "DELETE", `tokens/${theirs.tokenName}`), "revoke b's service token by name");
    refused(await call(tok.a, "POST", "tokens", { name: "sneaky", zone: "b.test" }), "make a service token in b");
    refused(await call(tok.a, "POST", "tunnel-certs", { zone: "b.test" }), "get a zone credential for b");
    refused(await call(tok.a, "GET", "ssh-ca?hostname=ssh.b.test"), "read b's SSH CA");
  }, 20_000);

  test("another zone's things by id: 403, the same sentence as for an id that does not exist", async () => {
    refused(await call(tok.a, "PATCH", `policies/${theirs.policy}`, { name: "hijacked" }), "edit b's policy");
    refused(await call(tok.a, "DELETE", `policies/${theirs.policy}`), "remove b's policy");
    refused(await call(tok.a, "DELETE", `tokens/${theirs.token}`), "revoke b's service token by id");
    refused(await call(tok.a, "DELETE", `tunnel-certs/${theirs.credential}`), "revoke b's zone credential");
    refused(await call(tok.a, "DELETE", `tunnels/${theirs.tunnel}`), "delete b's tunnel");
    refused(await call(tok.a, "GET", `recordings/${theirs.recording}`), "play b's recording");
    refused(await call(tok.a, "DELETE", `sessions/${theirs.session}`), "revoke b's session");
    const real = await call(tok.a, "DELETE", `policies/${theirs.policy}`);
    const none = await call(tok.a, "DELETE", "policies/pol_doesnotexist");
    expect(none.status).toBe(403);
    expect(none.body.error.replace("pol_doesnotexist", "X")).toBe(real.body.error.replace(theirs.policy, "X"));
    // all still there
    expect((await call(bootstrap, "GET", "policies?app=ssh.b.test")).body.policies.map((p: { name: string }) => p.name)).toEqual(["b-team"]);
    expect((await call(bootstrap, "GET", "tokens")).body.tokens.map((t: { id: string }) => t.id)).toContain(theirs.token);
  });

  test("the nested zone eu.a.test belongs to its own admins: a.test's token may not touch it", async () => {
    refused(await call(tok.a, "PATCH", "apps/x.eu.a.test", { sessionLengthMs: 3_600_000 }), "edit the nested zone's app");
    refused(await call(tok.a, "POST", "apps", { hostname: "y.eu.a.test" }), "add an app in the nested zone");
    refused(await call(tok.a, "DELETE", `policies/${theirs.nestedPolicy}`), "remove the nested zone's policy");
    refused(await call(tok.a, "POST", "tunnel-certs", { zone: "eu.a.test" }), "get the nested zone's credential");
  });

  test("edge-wide routes: only an edge admin", async () => {
    refused(await call(tok.a, "POST", "zones", { name: "c.test" }), "add a zone");
    refused(await call(tok.a, "PATCH", "zones/a.test", { addAdmins: ["mallory@evil.test"] }), "make someone admin of its own zone");
    refused(await call(tok.a, "DELETE", "zones/a.test"), "remove its own zone");
    refused(await call(tok.a, "GET", "nodes"), "list nodes");
    refused(await call(tok.a, "GET", "signing-keys"), "list signing keys");
    refused(await call(tok.a, "POST", "signing-keys", {}), "rotate the signing key");
    refused(await call(tok.a, "GET", "certs"), "list certificates");
    refused(await call(tok.a, "POST", "user-revocations", { email: "ceo@b.test" }), "revoke someone's sign-in");
    refused(await call(tok.a, "POST", "admin-tokens", { name: "more" }), "make admin tokens");
    refused(await call(tok.a, "DELETE", "admin-tokens/bootstrap"), "revoke the bootstrap token");
    refused(await call(tok.a, "DELETE", "admin-tokens/b-ci"), "revoke b's admin token");
  });

  test("in its own zone it may do what an admin does, and the audit names it and its address", async () => {
    expect((await call(tok.a, "POST", "apps", { hostname: "db.a.test" })).status).toBe(201);
    expect((await call(tok.a, "PATCH", "apps/db.a.test", { resumeGraceMs: 30_000 })).body.app).toMatchObject({ resumeGraceMs: 30_000, resumeGraceSet: true });
    // another zone's session, asked for by its id, shows nothing
    expect((await call(tok.a, "GET", `audit?session=${theirs.session}`)).body.records).toEqual([]);
    expect((await call(bootstrap, "GET", `audit?session=${theirs.session}`)).body.records).toMatchObject([{ sessionId: theirs.session }]);
    const p = await call(tok.a, "POST", "policies", { app: "db.a.test", name: "dbas", action: "allow", include: ["group:dba"] });
    expect(p.status).toBe(201);
    expect((await call(tok.a, "POST", "policy-test", { host: "db.a.test", email: "x@a.test", groups: ["dba"] })).body.decision.allowed).toBe(true);
    const t = await call(tok.a, "POST", "tokens", { name: "a-deploy" });
    expect(t.status).toBe(201);
    expect(t.body.zone).toBe("a.test");
    expect((await call(tok.a, "GET", "tokens")).body.tokens.map((x: { name: string }) => x.name)).toEqual(["a-deploy"]);
    expect((await call(tok.a, "DELETE", `policies/${p.body.policy.id}`)).status).toBe(200);
    // a tunnel's name is looked up in the caller's zone: b.test's "web" is not a.test's
    expect((await call(tok.a, "DELETE", "tunnels/web")).status).toBe(200);
    const [row] = await queryAudit(store, { kind: "admin", user: "a-ci", limit: 1 });
    expect(row).toMatchObject({ actor: "a-ci", action: "tunnel.delete", ip: "127.0.0.1" });
    // b's tunnel named web is still there
    expect((await call(tok.b, "GET", "tunnels")).body.tunnels.map((x: { id: string }) => x.id)).toEqual([theirs.tunnel]);
  });
});

describe("read-only tokens", () => {
  test("read, and the what-if, but every write is 403", async () => {
    expect((await call(tok.aRead, "GET", "apps")).status).toBe(200);
    expect((await call(tok.aRead, "POST", "policy-test", { host: "ssh.a.test", email: "x@a.test" })).status).toBe(200);
    refused(await call(tok.aRead, "POST", "apps", { hostname: "ro.a.test" }), "add an app");
    refused(await call(tok.aRead, "PATCH", "apps/ssh.a.test", { sessionLengthMs: 3_600_000 }), "edit an app");
    refused(await call(tok.aRead, "POST", "tokens", { name: "ro" }), "make a service token");
    expect((await call(tok.aRead, "POST", "apps", { hostname: "ro.a.test" })).body.error).toContain("read-only");
    const wide = (await createAdminToken(store, "auditor", { readOnly: true })).token;
    expect((await call(wide, "GET", "nodes")).status).toBe(200);
    refused(await call(wide, "POST", "zones", { name: "ro.test" }), "add a zone");
    refused(await call(wide, "POST", "admin-tokens", { name: "escalate" }), "make a token that may write");
  });
});

describe("admin tokens: created, listed, revoked, expired", () => {
  test("a token made through the API works at once, and is refused at once when revoked", async () => {
    const made = await call(bootstrap, "POST", "admin-tokens", { name: "terraform", zone: "b.test", readOnly: false });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: "terraform", zone: "b.test", readOnly: false });
    expect((await call(made.body.token, "GET", "apps")).body.apps.map((a: { hostname: string }) => a.hostname)).toEqual(["ssh.b.test"]);
    expect(JSON.stringify((await call(bootstrap, "GET", "admin-tokens")).body)).not.toContain(made.body.token.split(".")[1]);
    expect((await call(bootstrap, "DELETE", "admin-tokens/terraform")).status).toBe(200);
    expect((await call(made.body.token, "GET", "apps")).status).toBe(401);
  });

  test("an expired token is refused; one cannot be made already expired", async () => {
    const t = await createAdminToken(store, "short", { zone: "a.test", expiresAt: Date.now() + 60_000 });
    expect((await call(t.token, "GET", "apps")).status).toBe(200);
    await store.sql`UPDATE admin_tokens SET expires_at = ${Date.now() - 1} WHERE id = ${t.id}`;
    expect((await call(t.token, "GET", "apps")).status).toBe(401);
    expect((await call(bootstrap, "POST", "admin-tokens", { name: "past", expiresAt: Date.now() - 1000 })).status).toBe(400);
  });

  test("`revoke bootstrap` retires the first token; the next start makes no new one", async () => {
    const ops = (await call(bootstrap, "POST", "admin-tokens", { name: "ops" })).body.token as string;
    expect((await call(ops, "DELETE", "admin-tokens/bootstrap")).status).toBe(200);
    expect((await call(bootstrap, "GET", "zones")).status).toBe(401);
    expect(await ensureBootstrapAdminToken(store, dir.path)).toMatchObject({ created: false });
    // its name is free again, for a token made on purpose
    expect((await call(ops, "POST", "admin-tokens", { name: "bootstrap" })).status).toBe(201);
  });
});

describe("a zone admin's listings are filtered before the limit (issue 28)", () => {
  test("another zone's newer rows do not crowd out the caller's own", async () => {
    for (let i = 0; i < 3; i++) await writeAudit(store, { kind: "decision", allowed: true, identity: "carol@a.test", host: "ssh.a.test", app: i === 2 ? "*.a.test" : "ssh.a.test", reason: "allowed" });
    for (let i = 0; i < 60; i++) await writeAudit(store, { kind: "decision", allowed: false, identity: "bob@b.test", host: "ssh.b.test", app: "ssh.b.test", reason: "denied" });
    // the nested zone eu.a.test is not a.test's admin's
    for (let i = 0; i < 5; i++) await writeAudit(store, { kind: "decision", allowed: true, identity: "eve@eu.a.test", host: "x.eu.a.test", app: "x.eu.a.test", reason: "allowed" });
    const a = (await call(tok.a, "GET", "audit?limit=50")).body.records as { identity?: string; host?: string }[];
    expect(a.filter((r) => r.identity === "carol@a.test")).toHaveLength(3);
    expect(a.filter((r) => r.host === "ssh.b.test" || r.host === "x.eu.a.test")).toEqual([]);
    const b = (await call(tok.b, "GET", "audit?limit=50")).body.records as { host?: string }[];
    expect(b).toHaveLength(50);
    expect(b.every((r) => r.host === "ssh.b.test")).toBe(true);

    await startRecording(store, { sessionId: "sess-a-9", app: "ssh.a.test", host: "ssh.a.test", identity: "carol@a.test", principal: "carol", input: false }, '{"version":2}');
    for (let i = 0; i < 3; i++) await startRecording(store, { sessionId: `sess-b-9${i}`, app: "ssh.b.test", host: "ssh.b.test", identity: "bob@b.test", principal: "bob", input: false }, '{"version":2}');
    const recs = (await call(tok.a, "GET", "recordings?limit=2")).body.recordings as { host: string }[];
    expect(recs.map((r) => r.host)).toEqual(["ssh.a.test"]);
  });
});

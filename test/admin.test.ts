// The admin API on a bare Bun.serve on port 0 (plain HTTP; one test adds TLS from the edge's
// own CA), driven by the admin client functions and by the admin commands as processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import {
  deleteApp,
  deletePolicy,
  deleteToken,
  deleteZone,
  getApps,
  getPolicies,
  getTokens,
  getZones,
  postApp,
  postPolicy,
  postToken,
  postTunnelCert,
  postZone,
  resolveAdminConnection,
  type AdminConnection,
} from "../lib/admin-client/client.ts";
import { formatZoneCredential, parseZoneCredential } from "../lib/auth/zone-credential.ts";
import { WicketError } from "../lib/cli/exit.ts";
import { setupLog } from "../lib/cli/log.ts";
import { handleAdmin, type AdminContext } from "../lib/edge/admin/api.ts";
import { issueCert, loadOrCreateCA } from "../lib/tls/ca.ts";
import { ensureBootstrapAdminToken, openStore, verifyServiceToken, verifyZoneCredential, zonesAdministeredBy, type Store } from "../lib/store/index.ts";
import { expectExit, run } from "./helpers/proc.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";

// Not a real CA: only carried through the credential file, never used for TLS here.
const FAKE_CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
// The variables the client reads, so that a developer's own settings cannot leak into a test.
const CLEAN_ENV = { WICKET_EDGE: undefined, WICKET_ADMIN_TOKEN: undefined, WICKET_CA_FILE: undefined, WICKET_DATA_DIR: undefined, WICKET_LOGLEVEL: undefined };

let dir: TempDir;
let store: Store;
let server: Server<undefined>;
let conn: AdminConnection;
let zonesChanged = 0;

async function wicketErr(p: Promise<unknown>): Promise<WicketError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WicketError) return e;
    throw e;
  }
  throw new Error("expected a WicketError, got success");
}

beforeAll(async () => {
  setupLog("silent");
  for (const k of Object.keys(CLEAN_ENV)) delete process.env[k];
  dir = await tempDir();
  store = await openStore({ dataDir: dir.path });
  await ensureBootstrapAdminToken(store, dir.path);
  const ctx: AdminContext = {
    store,
    publicUrl: "https://edge.example.test",
    caPem: FAKE_CA_PEM,
    onZonesChanged: async () => void zonesChanged++,
  };
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => handleAdmin(req, ctx) });
  // What the edge writes at start; the client finds the URL and token through --data-dir.
  writeFileSync(join(dir.path, "public-url"), server.url.origin + "\n");
  conn = resolveAdminConnection({ "data-dir": dir.path });
});

afterAll(async () => {
  server?.stop(true);
  await store?.close();
  await dir?.remove();
});

describe("authentication", () => {
  test("a request without the admin token gets 401 and a JSON error", async () => {
    const res = await fetch(new URL("/api/v1/zones", server.url));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "the admin token is missing or was refused; send Authorization: Bearer <admin token>" });
  });

  test("a wrong admin token is refused, and the client says so with exit code 77", async () => {
    const err = await wicketErr(getZones({ ...conn, token: conn.token.slice(0, -2) + "xx" }));
    expect(err.exitCode).toBe(77);
    expect(err.message).toBe("the admin token was refused; pass --admin-token or --data-dir");
  });
});

describe("round trips", () => {
  test("zones: add, list, remove; the edge hears of each change", async () => {
    const before = zonesChanged;
    expect(await postZone(conn, "Site.Test")).toMatchObject({ name: "site.test" });
    expect((await getZones(conn)).map((z) => z.name)).toEqual(["site.test"]);
    expect(zonesChanged).toBe(before + 1);
    expect(await deleteZone(conn, "site.test")).toMatchObject({ name: "site.test" });
    expect(await getZones(conn)).toEqual([]);
    expect(zonesChanged).toBe(before + 2);
  });

  test("apps, tokens and policies", async () => {
    await postZone(conn, "apps.test");
    expect(await postApp(conn, "ssh.apps.test")).toMatchObject({ hostname: "ssh.apps.test", zone: "apps.test" });
    expect(await postApp(conn, "*.apps.test")).toMatchObject({ hostname: "*.apps.test" });
    expect((await getApps(conn)).map((a) => a.hostname)).toEqual(["*.apps.test", "ssh.apps.test"]);

    const t = await postToken(conn, "deploy");
    // Plain checks: Bun 1.4.5's toMatchObject with asymmetric matchers writes the matchers into `t`.
    expect(t.id).toMatch(/^wkt_[0-9a-f]{16}$/);
    expect([t.name, typeof t.secret]).toEqual(["deploy", "string"]);
    expect(await verifyServiceToken(store, t.id, t.secret)).toMatchObject({ name: "deploy" });
    const listed = await getTokens(conn);
    expect(listed.map((x) => x.name)).toEqual(["deploy"]);
    expect(JSON.stringify(listed)).not.toContain(t.secret);

    const p = await postPolicy(conn, { app: "ssh.apps.test", name: "ci", action: "allow", include: ["token:deploy"], exclude: [], require: ["any-token"] });
    expect(p).toMatchObject({ app: "ssh.apps.test", name: "ci", action: "allow", position: 0 });
    expect(p.rules).toEqual({ include: [{ kind: "token", value: "deploy" }], exclude: [], require: [{ kind: "any-token" }] });
    await postPolicy(conn, { app: "*.apps.test", name: "all", action: "deny", include: [{ kind: "everyone" }] });
    expect((await getPolicies(conn, "ssh.apps.test")).map((x) => x.id)).toEqual([p.id]);
    expect((await getPolicies(conn)).map((x) => x.name)).toEqual(["all", "ci"]);

    expect(await deletePolicy(conn, p.id)).toMatchObject({ id: p.id });
    expect(await deleteToken(conn, "deploy")).toMatchObject({ id: t.id });
    expect(await verifyServiceToken(store, t.id, t.secret)).toBeUndefined();
    await deleteApp(conn, "*.apps.test");
    await deleteApp(conn, "ssh.apps.test");
    await deleteZone(conn, "apps.test");
  });

  test("the server's sentence reaches the user as a usage error (64)", async () => {
    await postZone(conn, "busy.test");
    await postApp(conn, "ssh.busy.test");
    const outside = await wicketErr(postApp(conn, "ssh.elsewhere.test"));
    expect(outside.exitCode).toBe(64);
    expect(outside.message).toBe(`"ssh.elsewhere.test" is not in any zone; add its zone first with "wicket edge zone add <zone>"`);
    expect((await wicketErr(deleteZone(conn, "busy.test"))).message).toContain(`the zone "busy.test" still has an application`);
    expect((await wicketErr(postPolicy(conn, { app: "ssh.busy.test", name: "x", action: "allow", include: ["geo:fr"] }))).message).toContain(`unknown rule "geo:fr"`);
  });

  test("HTTP statuses: 400 bad input, 404 unknown, 409 conflict", async () => {
    const call = (method: string, path: string, body?: unknown) =>
      fetch(new URL(`/api/v1/${path}`, server.url), { method, headers: { authorization: `Bearer ${conn.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    await postZone(conn, "status.test");
    expect((await call("POST", "zones", "not json")).status).toBe(400);
    expect((await call("POST", "zones", { nope: 1 })).status).toBe(400);
    expect((await call("POST", "zones", { name: "status.test" })).status).toBe(409);
    expect((await call("DELETE", "zones/missing.test")).status).toBe(404);
    expect((await call("GET", "nothing-here")).status).toBe(404);
    const res = await call("PUT", "zones");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "there is no admin API route PUT /api/v1/zones" });
  });

  test("policy test, audit, sessions and user revocation: bad input is a 400 with a sentence", async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(new URL(`/api/v1/${path}`, server.url), { method, headers: { authorization: `Bearer ${conn.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as any };
    };
    expect(await call("POST", "policy-test", { host: "ssh.x.test", token: "a", email: "b@c.test" })).toEqual({ status: 400, body: { error: "a client is either a service token or a user; pass --token or --email, not both" } });
    expect(await call("POST", "policy-test", { host: "ssh.x.test", email: "b@c.test", groups: [1] })).toEqual({ status: 400, body: { error: `"groups" must be a list of strings` } });
    expect(await call("POST", "policy-test", { host: "nowhere.test", email: "b@c.test" })).toMatchObject({ status: 200, body: { app: null, decision: { allowed: false }, message: "access to nowhere.test denied: the edge serves no application at nowhere.test; check the hostname" } });
    expect(await call("GET", "audit?kind=nope")).toEqual({ status: 400, body: { error: `"kind" must be decision, session-end or admin` } });
    expect(await call("GET", "audit?since=yesterday")).toEqual({ status: 400, body: { error: `the query parameter "since" must be a whole number` } });
    expect(await call("GET", "audit?limit=0")).toEqual({ status: 400, body: { error: "the limit must be a whole number from 1 to 10000" } });
    expect(await call("PATCH", "apps/missing.test", { sessionLengthMs: "8h" })).toEqual({ status: 400, body: { error: `"sessionLengthMs" must be a number of milliseconds, or null for the default` } });
    expect(await call("GET", "sessions")).toEqual({ status: 200, body: { sessions: [] } }); // no registry behind this bare server
    expect((await call("DELETE", "sessions/ses_nope")).status).toBe(404);
    expect(await call("POST", "user-revocations", { email: "nope" })).toEqual({ status: 400, body: { error: `"nope" is not an e-mail address; pass one such as jdoe@example.com` } });
    const admin = (await call("GET", "audit?kind=admin")).body.records;
    expect(admin.length).toBeGreaterThan(0); // what the earlier tests changed was audited
    expect(admin.every((r: { actor: string }) => r.actor === "bootstrap")).toBe(true);
  });
});

describe("tunnel credentials", () => {
  test("a credential made through the API parses back and verifies against the store", async () => {
    await postZone(conn, "tunnel.test");
    const { credential, zone, id } = await postTunnelCert(conn, "tunnel.test");
    expect(credential).toStartWith("-----BEGIN WICKET ZONE CREDENTIAL-----\n");
    const parsed = parseZoneCredential(credential, "cert.pem");
    expect(parsed).toMatchObject({ edge: "https://edge.example.test", zone: "tunnel.test", id, caPem: FAKE_CA_PEM });
    expect(zone).toBe("tunnel.test");
    expect(await verifyZoneCredential(store, parsed.id, parsed.secret)).toMatchObject({ credential: { id: parsed.id, zone: "tunnel.test" } });
    expect((await wicketErr(postTunnelCert(conn, "missing.test"))).message).toBe(`there is no zone "missing.test"; add it first with "wicket edge zone add missing.test"`);
  });

  test("the file format round-trips without a CA, and a damaged file is a config error (78)", () => {
    const c = { edge: "https://e.test", zone: "z.test", id: "wzc_1", secret: "s" };
    expect(parseZoneCredential(formatZoneCredential(c))).toEqual(c);
    for (const [text, what] of [
      ["", `no "-----BEGIN WICKET ZONE CREDENTIAL-----" block`],
      ["-----BEGIN WICKET ZONE CREDENTIAL-----\nabc\n", "the credential block has no end line"],
      ["-----BEGIN WICKET ZONE CREDENTIAL-----\n!!!!\n-----END WICKET ZONE CREDENTIAL-----\n", "the credential block does not decode"],
      [formatZoneCredential({ ...c, secret: "" }), `"secret" is missing`],
    ]) {
      let err: unknown;
      try {
        parseZoneCredential(text!, "/home/op/.wicket/cert.pem");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(WicketError);
      expect((err as WicketError).exitCode).toBe(78);
      expect((err as WicketError).message).toBe(`/home/op/.wicket/cert.pem is not a valid wicket zone credential (${what}); get a new one with "wicket tunnel login" or "wicket edge tunnel-cert"`);
    }
  });
});

describe("finding the edge", () => {
  test("with neither --edge nor --data-dir, the client says what to pass (64)", () => {
    let err: unknown;
    try {
      resolveAdminConnection({});
    } catch (e) {
      err = e;
    }
    expect((err as WicketError).exitCode).toBe(64);
    expect((err as WicketError).message).toBe("no edge to talk to; pass --edge URL (or set WICKET_EDGE) or the edge's --data-dir");
  });

  test("an edge that is not listening is unreachable (69)", async () => {
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const url = closed.url.origin;
    closed.stop(true);
    const err = await wicketErr(getZones({ baseUrl: url, token: conn.token }));
    expect(err.exitCode).toBe(69);
    expect(err.message).toStartWith(`cannot reach the edge at ${url} (`);
  });

  test("over TLS from the edge's own CA: refused without the CA (69, names --ca-file), fine with <data-dir>/ca.pem", async () => {
    await using tlsDir = await tempDir();
    const ca = await loadOrCreateCA(tlsDir.path); // writes <dir>/ca.pem as the edge does
    const cert = await issueCert(ca, ["127.0.0.1"]);
    const ctx: AdminContext = { store, publicUrl: "https://127.0.0.1", onZonesChanged: async () => {} };
    using tls = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: { cert: cert.cert, key: cert.key }, fetch: (req) => handleAdmin(req, ctx) });
    const edge = `https://127.0.0.1:${tls.port}`;

    const err = await wicketErr(getZones({ baseUrl: edge, token: conn.token }));
    expect(err.exitCode).toBe(69);
    expect(err.message).toContain("pass the edge's CA with --ca-file");

    const withCa = resolveAdminConnection({ edge, "admin-token": conn.token, "data-dir": tlsDir.path });
    expect(withCa.caFile).toBe(join(tlsDir.path, "ca.pem"));
    expect(Array.isArray(await getZones(withCa))).toBe(true);
  });
});

describe("the admin commands", () => {
  const bun = process.execPath;
  const cli = (file: string, ...args: string[]) => run([bun, join(import.meta.dir, "..", "commands", file), ...args, "--data-dir", dir.path], { env: CLEAN_ENV });

  test("zone, app, token and policy commands, human and --json", async () => {
    expect(expectExit(await cli("edge-zone.ts", "add", "cli.test")).stdout).toBe("added zone cli.test\n");
    expect(expectExit(await cli("edge-app.ts", "add", "ssh.cli.test")).stdout).toStartWith("added application ssh.cli.test (zone cli.test)");
    expect(expectExit(await cli("edge-zone.ts", "list")).stdout).toMatch(/^ZONE\s+CREATED\n(.*\n)*cli\.test\s+\d{4}-/);

    const created = expectExit(await cli("edge-token.ts", "create", "ci", "--json"));
    const token = JSON.parse(created.stdout);
    expect(Object.keys(token).sort()).toEqual(["id", "name", "secret"]);
    const human = expectExit(await cli("edge-token.ts", "create", "ci2"));
    expect(human.stdout).toMatch(/^id:\s+wkt_[0-9a-f]{16}\nsecret:\s+\S{43}\n$/);
    expect(human.stderr).toContain("the secret will not be shown again");

    // Repeated flags arrive as a list, a single one as a string: both work.
    const added = expectExit(await cli("edge-policy.ts", "add", "ssh.cli.test", "--name", "ci", "--action", "allow", "--include", "token:ci", "--include", "token:ci2", "--require", "any-token", "--json"));
    expect(JSON.parse(added.stdout).rules.include).toEqual([
      { kind: "token", value: "ci" },
      { kind: "token", value: "ci2" },
    ]);
    const listed = expectExit(await cli("edge-policy.ts", "list", "ssh.cli.test"));
    expect(listed.stdout).toContain("include token:ci, token:ci2; require any-token");

    const bad = await cli("edge-policy.ts", "add", "ssh.cli.test", "--name", "x", "--action", "allow", "--include", "bogus");
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain(`unknown rule "bogus"`);
    expect(bad.stdout).toBe("");

    expectExit(await cli("edge-token.ts", "rm", token.id));
    expect(expectExit(await cli("edge-token.ts", "list", "--json")).stdout).not.toContain(token.id);
  });

  test("zone edit adds and removes who may use `tunnel login` for a zone", async () => {
    expect(expectExit(await cli("edge-zone.ts", "add", "admins.test", "--admin", "alice@site.test")).stdout).toBe("added zone admins.test, administered by email:alice@site.test\n");
    const edited = expectExit(await cli("edge-zone.ts", "edit", "admins.test", "--add-admin", "group:ops", "--add-admin", "Bob@Site.test", "--remove-admin", "alice@site.test"));
    expect(edited.stdout).toBe("zone admins.test: administered by email:bob@site.test, group:ops\n");
    expect(await zonesAdministeredBy(store, { email: "alice@site.test", groups: [] })).not.toContain("admins.test");
    expect(await zonesAdministeredBy(store, { email: "carol@site.test", groups: ["ops"] })).toContain("admins.test");
    expect(expectExit(await cli("edge-zone.ts", "list")).stdout).toMatch(/admins\.test\s+\d{4}-\S+\s+email:bob@site\.test, group:ops\n/);

    const notThere = await cli("edge-zone.ts", "edit", "admins.test", "--remove-admin", "alice@site.test");
    expect([notThere.code, notThere.stderr]).toEqual([64, "error: email:alice@site.test is not an admin of the zone admins.test; its admins are email:bob@site.test, group:ops\n"]);
    const bad = await cli("edge-zone.ts", "edit", "admins.test", "--add-admin", "not an address");
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("is not a zone admin; use an e-mail address");
    expect((await cli("edge-zone.ts", "edit", "admins.test")).code).toBe(64);
    expect((await cli("edge-zone.ts", "edit", "nowhere.test", "--add-admin", "group:ops")).code).toBe(64);
    expect(expectExit(await cli("edge-zone.ts", "edit", "admins.test", "--remove-admin", "group:ops", "--remove-admin", "bob@site.test")).stdout).toBe(
      "zone admins.test: no admins (no one can use `wicket tunnel login` for it)\n",
    );
  });

  test("a refused token exits 77 with one line on stderr", async () => {
    const r = await run([bun, join(import.meta.dir, "..", "commands", "edge-zone.ts"), "list", "--edge", server.url.origin, "--admin-token", "wka_0.nope"], { env: CLEAN_ENV });
    expect(r.code).toBe(77);
    expect(r.stderr).toBe("error: the admin token was refused; pass --admin-token or --data-dir\n");
  });

  test("tunnel-cert writes a 0600 file and refuses to overwrite it without --force", async () => {
    await postZone(conn, "cert.test");
    const out = join(dir.path, "out-cert.pem");
    const r = expectExit(await cli("edge-tunnel-cert.ts", "cert.test", "--out", out));
    expect(r.stdout).toBe(out + "\n");
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const first = parseZoneCredential(readFileSync(out, "utf8"), out);
    expect(await verifyZoneCredential(store, first.id, first.secret)).toMatchObject({ credential: { id: first.id, zone: "cert.test" } });

    const again = await cli("edge-tunnel-cert.ts", "cert.test", "--out", out);
    expect(again.code).toBe(64);
    expect(again.stderr).toContain("already exists; pass --force");

    expectExit(await cli("edge-tunnel-cert.ts", "cert.test", "--out", out, "--force"));
    expect(parseZoneCredential(readFileSync(out, "utf8")).id).not.toBe(first.id);
  });
});

// The audit trail, user revocation, policy order and session length in the store (SQLite
// always; PostgreSQL too when WICKET_TEST_POSTGRES_URL names a server on which the tests may
// create and drop databases), and the edge's pieces that use them: the client address,
// authorization that refuses a stream it cannot audit, and the live-session registry that
// revocation cuts.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { setupLog } from "../lib/cli/log.ts";
import * as authorizeModule from "../lib/edge/decisions/authorize.ts";
import * as storeModule from "../lib/store/index.ts";
import { authorizeClient, reauthorize } from "../lib/edge/decisions/authorize.ts";
import { clientIp, parseTrustedProxies } from "../lib/edge/http/client-ip.ts";
import { handleAdmin, type AdminContext } from "../lib/edge/admin/api.ts";
import { watchAccess } from "../lib/edge/decisions/access-watch.ts";
import { createLiveSessions } from "../lib/edge/decisions/live-sessions.ts";
import { startEdge } from "../lib/edge/server.ts";
import {
  accessRevision,
  addApp,
  addPolicy,
  addZone,
  appSessionLength,
  createServiceToken,
  DEFAULT_SESSION_LENGTH_MS,
  editApp,
  editPolicy,
  ensureBootstrapAdminToken,
  listPolicies,
  openStore,
  pruneAudit,
  queryAudit,
  removeServiceToken,
  revokeUser,
  userRevokedBefore,
  writeAudit,
  type Store,
} from "../lib/store/index.ts";
import { Close, closeReason } from "../lib/wire/close.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER } from "../lib/wire/http.ts";
import { tempDir } from "./helpers/tmp.ts";
import { BACKENDS, withStore } from "./helpers/store.ts";

setupLog("silent");


/** A zone, an application and a service token with an allow policy for it. */
async function appWithToken(store: Store, host = "ssh.site.test") {
  await addZone(store, host.split(".").slice(1).join("."));
  await addApp(store, host);
  const t = await createServiceToken(store, "ci");
  const p = await addPolicy(store, { app: host, name: "ci", action: "allow", include: ["token:ci"] });
  return { token: t, policy: p };
}

const clientRequest = (host: string, id: string, secret: string) => new Request(`https://${host}/`, { headers: { host, [CLIENT_ID_HEADER]: id, [CLIENT_SECRET_HEADER]: secret } });

for (const backend of BACKENDS) {
  describe(`${backend} store`, () => {
    test("audit records come back oldest first, filtered by user, host, denied, since and after", () =>
      withStore(backend, async (store) => {
        const t0 = Date.now() - 60_000;
        const a = await writeAudit(store, { kind: "decision", allowed: true, identity: "token:ci", tokenId: "wkt_1", host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", sessionId: "ses_1", reason: "allowed" }, t0);
        const b = await writeAudit(store, { kind: "decision", allowed: false, identity: "jdoe@example.com", email: "jdoe@example.com", host: "git.site.test", app: "*.site.test", ip: "2001:db8::1", reason: "no policy" }, t0 + 1);
        const c = await writeAudit(store, { kind: "session-end", identity: "token:ci", tokenId: "wkt_1", host: "ssh.site.test", sessionId: "ses_1", bytesToOrigin: 5_000_000_000, bytesToClient: 7, durationMs: 1234, reason: "ended normally" }, t0 + 2);
        const d = await writeAudit(store, { kind: "admin", actor: "bootstrap", identity: "bootstrap", action: "token.revoke", target: "ci", tokenId: "wkt_1", reason: "revoked" }, t0 + 3);
        expect((await queryAudit(store)).map((r) => r.id)).toEqual([a.id, b.id, c.id, d.id]);
        expect(await queryAudit(store, { denied: true })).toEqual([b]);
        expect((await queryAudit(store, { user: "ci" })).map((r) => r.id)).toEqual([a.id, c.id, d.id]);
        expect((await queryAudit(store, { user: "JDoe@Example.com" })).map((r) => r.id)).toEqual([b.id]);
        expect((await queryAudit(store, { host: "*.site.test" })).map((r) => r.id)).toEqual([b.id]);
        expect((await queryAudit(store, { host: "SSH.site.test" })).map((r) => r.id)).toEqual([a.id, c.id]);
        expect((await queryAudit(store, { since: t0 + 2 })).map((r) => r.id)).toEqual([c.id, d.id]);
        expect((await queryAudit(store, { after: b.id })).map((r) => r.id)).toEqual([c.id, d.id]);
        expect((await queryAudit(store, { limit: 2 })).map((r) => r.id)).toEqual([c.id, d.id]); // the newest two
        expect((await queryAudit(store, { kind: "session-end" }))[0]).toEqual(c); // big counts survive the round trip
        expect(await pruneAudit(store, t0 + 2)).toBe(2);
        expect((await queryAudit(store)).map((r) => r.id)).toEqual([c.id, d.id]);
      }));

    test("a user revocation is kept per e-mail, the newest wins, and moves the access revision", () =>
      withStore(backend, async (store) => {
        expect(await userRevokedBefore(store, "jdoe@example.com")).toBeUndefined();
        const rev = await accessRevision(store);
        const r1 = await revokeUser(store, "JDoe@Example.com", "bootstrap", 1000);
        expect(r1).toEqual({ email: "jdoe@example.com", revokedBefore: 1000, revokedBy: "bootstrap" });
        expect(await userRevokedBefore(store, "jdoe@example.com")).toBe(1000);
        await revokeUser(store, "jdoe@example.com", "ops", 2000);
        expect(await userRevokedBefore(store, "JDOE@example.com")).toBe(2000);
        expect(await accessRevision(store)).toBe(rev + 2);
        await expect(revokeUser(store, "not an e-mail")).rejects.toThrow(`"not an e-mail" is not an e-mail address`);
      }));

    test("policies: add at a position, edit, move; positions stay 0, 1, 2 …; each change moves the access revision", () =>
      withStore(backend, async (store) => {
        await addZone(store, "site.test");
        await addApp(store, "ssh.site.test");
        const add = (name: string, position?: number) => addPolicy(store, { app: "ssh.site.test", name, action: "allow", include: ["everyone"], position });
        const a = await add("a");
        const b = await add("b");
        const c = await add("c", 0);
        expect(c.position).toBe(0);
        const order = async () => (await listPolicies(store, "ssh.site.test")).map((p) => `${p.position}:${p.name}`);
        expect(await order()).toEqual(["0:c", "1:a", "2:b"]);
        const rev = await accessRevision(store);
        expect((await editPolicy(store, c.id, { position: 99 })).position).toBe(2);
        expect(await order()).toEqual(["0:a", "1:b", "2:c"]);
        const e = await editPolicy(store, b.id, { name: "b2", action: "deny", exclude: ["group:contractors"], position: 0 });
        expect(e).toMatchObject({ name: "b2", action: "deny", position: 0, rules: { include: [{ kind: "everyone" }], exclude: [{ kind: "group", value: "contractors" }], require: [] } });
        expect(await order()).toEqual(["0:b2", "1:a", "2:c"]);
        expect((await editPolicy(store, b.id, { exclude: [] })).rules.exclude).toEqual([]);
        expect(await accessRevision(store)).toBe(rev + 3);
        await expect(editPolicy(store, a.id, { name: "c" })).rejects.toThrow(`already has a policy named "c"`);
        await expect(editPolicy(store, a.id, { include: [] })).rejects.toThrow("at least one include rule");
        await expect(editPolicy(store, "pol_nope", { name: "x" })).rejects.toThrow(`there is no policy "pol_nope"`);
      }));

    test("session length: the default, per application, through a wildcard", () =>
      withStore(backend, async (store) => {
        await addZone(store, "site.test");
        expect((await addApp(store, "ssh.site.test")).sessionLengthMs).toBe(DEFAULT_SESSION_LENGTH_MS);
        expect(await addApp(store, "*.site.test", { sessionLengthMs: 8 * 3_600_000 })).toMatchObject({ sessionLengthMs: 8 * 3_600_000, sessionLengthSet: true });
        expect(await appSessionLength(store, "ssh.site.test")).toBe(DEFAULT_SESSION_LENGTH_MS);
        expect(await appSessionLength(store, "git.site.test")).toBe(8 * 3_600_000);
        expect(await appSessionLength(store, "nowhere.test")).toBeUndefined();
        await editApp(store, "ssh.site.test", { sessionLengthMs: 30 * 86_400_000 });
        expect(await appSessionLength(store, "SSH.site.test")).toBe(30 * 86_400_000);
        await editApp(store, "ssh.site.test", { sessionLengthMs: null });
        expect(await appSessionLength(store, "ssh.site.test")).toBe(DEFAULT_SESSION_LENGTH_MS);
        await expect(editApp(store, "ssh.site.test", { sessionLengthMs: 1000 })).rejects.toThrow("from 1 minute to 365 days");
        await expect(addApp(store, "x.site.test", { sessionLengthMs: 1.5 })).rejects.toThrow("from 1 minute to 365 days");
      }));
  });
}

describe("the client's address", () => {
  const trusted = parseTrustedProxies("10.0.0.0/8, 192.0.2.1, 2001:db8::/32");
  test.each([
    ["a peer with no header", "203.0.113.5", null, "203.0.113.5"],
    ["an untrusted peer's header is ignored", "203.0.113.5", "198.51.100.1", "203.0.113.5"],
    ["a trusted proxy's entry is believed", "10.1.1.1", "198.51.100.1", "198.51.100.1"],
    ["only the entry the proxy added, not what the client wrote before it", "10.1.1.1", "1.1.1.1, 198.51.100.1", "198.51.100.1"],
    ["a chain of trusted proxies is walked", "10.1.1.1", "1.1.1.1, 198.51.100.1, 192.0.2.1", "198.51.100.1"],
    ["an IPv6 proxy and client", "2001:db8::10", "2001:db9::7", "2001:db9::7"],
    ["an IPv4-mapped peer counts as IPv4", "::ffff:10.1.1.1", "198.51.100.1", "198.51.100.1"],
    ["an entry with a port", "10.1.1.1", "198.51.100.1:50000", "198.51.100.1"],
    ["a bracketed IPv6 entry with a port", "10.1.1.1", "[2001:db9::7]:443", "2001:db9::7"],
    ["a malformed entry stops at the proxy", "10.1.1.1", "unknown", "10.1.1.1"],
    ["everything trusted ends at the leftmost", "10.1.1.1", "10.2.2.2", "10.2.2.2"],
  ] as const)("%s", (_name, peer, header, ip) => {
    expect(clientIp(peer, header, trusted)).toBe(ip);
  });
  test("without trusted proxies no header is believed", () => expect(clientIp("10.1.1.1", "198.51.100.1", parseTrustedProxies(undefined))).toBe("10.1.1.1"));
  test("a bad entry is a config error", () => expect(() => parseTrustedProxies("10.0.0.0/8,10.0.0.0/33")).toThrow(`trusted proxy "10.0.0.0/33" is not an IP address or CIDR range`));
});

test("a close reason is cut to the 123 bytes a close frame carries, at a character boundary", () => {
  expect(closeReason("short")).toBe("short");
  const long = closeReason("é".repeat(100));
  expect(new TextEncoder().encode(long).byteLength).toBeLessThanOrEqual(123);
  expect(long).toEndWith("é…");
});

describe("authorizeClient", () => {
  test("writes the decision to the audit before saying yes; when it cannot, refuses (or, fail-open, lets in)", () =>
    withStore("sqlite", async (store) => {
      const { token } = await appWithToken(store);
      const req = () => clientRequest("ssh.site.test", token.id, token.secret);
      const ok = await authorizeClient(store, req(), "ssh.site.test", "10.0.0.1");
      expect(ok.reject).toBeUndefined();
      expect(ok.sessionId).toMatch(/^ses_/);
      expect(await queryAudit(store, { kind: "decision" })).toMatchObject([{ allowed: true, sessionId: ok.sessionId, ip: "10.0.0.1", tokenId: token.id, policyName: "ci", rule: "include token:ci" }]);

      await store.sql`DROP TABLE audit`; // the audit can no longer be written
      const refused = await authorizeClient(store, req(), "ssh.site.test", "10.0.0.1");
      expect(refused.reject).toEqual({ code: Close.unavailable, reason: "the edge cannot write its audit log, so it lets no one in; try again later" });
      const open = await authorizeClient(store, req(), "ssh.site.test", "10.0.0.1", { auditFailOpen: true });
      expect(open.reject).toBeUndefined();
      const wrong = await authorizeClient(store, clientRequest("ssh.site.test", token.id, "wrong"), "ssh.site.test", "10.0.0.1", { auditFailOpen: true });
      expect(wrong.reject?.code).toBe(Close.unauthenticated); // fail-open never lets in what was denied
    }));

  test("a revoked token is refused with its name, and its holder is told it was revoked", () =>
    withStore("sqlite", async (store) => {
      const { token } = await appWithToken(store);
      await removeServiceToken(store, token.id);
      const r = await authorizeClient(store, clientRequest("ssh.site.test", token.id, token.secret), "ssh.site.test", "10.0.0.1");
      expect(r.reject).toEqual({ code: Close.unauthenticated, reason: `the service token "ci" was revoked; ask an admin for a new one` });
      const guess = await authorizeClient(store, clientRequest("ssh.site.test", token.id, "guess"), "ssh.site.test", "10.0.0.1");
      expect(guess.reject?.reason).toBe("the service token was refused: unknown id or wrong secret"); // no secret, no news
      expect((await queryAudit(store, { denied: true })).map((x) => x.identity)).toEqual(["token:ci", `token:${token.id}`]); // a wrong secret: only the id presented
    }));
});

// Users exist only once browser sign-in lands (issue 3); until then the registry is driven
// with a user subject directly, and the session's "connection" is a recorder of what the
// edge would do to the client's WebSocket. Everything else (admin API, store, audit) is real.
describe("user revocation cuts live sessions", () => {
  test("POST user-revocations closes the user's sessions with 4403 and the reason; the audit has the end; credentials from before are refused", () =>
    withStore("sqlite", async (store, dir) => {
      await appWithToken(store);
      await addPolicy(store, { app: "ssh.site.test", name: "staff", action: "allow", include: ["domain:example.com"] });
      await ensureBootstrapAdminToken(store, dir);
      const sessions = createLiveSessions(store);
      const ctx: AdminContext = { store, publicUrl: "https://edge.test", onZonesChanged: async () => {}, sessions };
      const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => handleAdmin(req, ctx) });
      try {
        const adminToken = (await Bun.file(`${dir}/admin-token`).text()).trim();
        const issuedAt = Date.now() - 60_000; // signed in a minute ago
        const closed: { id: string; code: number; reason: string; at: number }[] = [];
        const open = (id: string, email: string) =>
          sessions.start(
            { host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", identity: email, subject: { email, ip: "10.0.0.1" }, issuedAt, sessionId: id, decidedAt: Date.now() },
            { counters: () => ({ toOrigin: 4096, toClient: 8192 }), close: (code, reason) => closed.push({ id, code, reason, at: performance.now() }) },
          );
        open("ses_jdoe1", "jdoe@example.com");
        open("ses_jdoe2", "JDoe@example.com");
        open("ses_ann", "ann@example.com");

        const started = performance.now();
        const res = await fetch(`${server.url}api/v1/user-revocations`, { method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: JSON.stringify({ email: "jdoe@example.com" }) });
        expect(res.status).toBe(200);
        const body = await res.json();
        expect(body).toMatchObject({ revocation: { email: "jdoe@example.com", revokedBy: "bootstrap" }, sessionsClosed: 2 });
        expect(closed.map((c) => [c.id, c.code, c.reason])).toEqual([
          ["ses_jdoe1", Close.denied, "the sign-in of jdoe@example.com was revoked by an admin"],
          ["ses_jdoe2", Close.denied, "the sign-in of jdoe@example.com was revoked by an admin"],
        ]);
        expect(Math.max(...closed.map((c) => c.at)) - started).toBeLessThan(1000);
        expect(sessions.list().map((s) => s.id)).toEqual(["ses_ann"]);

        await sessions.closeAll("test over"); // waits for the audit writes
        const ends = await queryAudit(store, { kind: "session-end", user: "jdoe@example.com" });
        expect(ends.map((e) => [e.sessionId, e.bytesToOrigin, e.bytesToClient, e.reason])).toEqual([
          ["ses_jdoe1", 4096, 8192, "the sign-in of jdoe@example.com was revoked by an admin"],
          ["ses_jdoe2", 4096, 8192, "the sign-in of jdoe@example.com was revoked by an admin"],
        ]);
        expect((await queryAudit(store, { kind: "admin" })).at(-1)).toMatchObject({ action: "user.revoke", email: "jdoe@example.com", reason: "revoked the sign-in of jdoe@example.com, closing 2 live sessions" });

        // What authorize.ts does with a user's credential: refused if issued before, fine after.
        const before = await userRevokedBefore(store, "jdoe@example.com");
        expect(await reauthorize(store, { host: "ssh.site.test", subject: { email: "jdoe@example.com" }, issuedAt })).toEqual({
          ok: false,
          reason: `the sign-in of jdoe@example.com was revoked at ${new Date(before!).toISOString()}; sign in again`,
        });
        expect(await reauthorize(store, { host: "ssh.site.test", subject: { email: "jdoe@example.com" }, issuedAt: before! })).toEqual({ ok: true });
        expect((await reauthorize(store, { host: "ssh.site.test", subject: { email: "jdoe@example.com" } })).ok).toBe(false); // no issue time: refused
        expect(await reauthorize(store, { host: "ssh.site.test", subject: { email: "ann@example.com" }, issuedAt })).toEqual({ ok: true });
      } finally {
        server.stop(true);
      }
    }));

  test("a change made in the store by another node reaches this node's sessions through the access revision", () =>
    withStore("sqlite", async (store) => {
      await appWithToken(store);
      await addPolicy(store, { app: "ssh.site.test", name: "staff", action: "allow", include: ["domain:example.com"] });
      const sessions = createLiveSessions(store);
      const closed = Promise.withResolvers<{ code: number; reason: string; at: number }>();
      sessions.start(
        { host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", identity: "jdoe@example.com", subject: { email: "jdoe@example.com" }, issuedAt: Date.now() - 1000, sessionId: "ses_1", decidedAt: Date.now() },
        { counters: () => ({ toOrigin: 1, toClient: 2 }), close: (code, reason) => closed.resolve({ code, reason, at: performance.now() }) },
      );
      const unwatch = watchAccess(store, 100, sessions.recheck);
      const started = performance.now();
      await revokeUser(store, "jdoe@example.com", "other-node"); // as another node would: store only
      const c = await closed.promise;
      expect(c.code).toBe(Close.denied);
      expect(c.reason).toStartWith("the sign-in of jdoe@example.com was revoked at ");
      expect(c.at - started).toBeLessThan(1000);
      unwatch();
      await sessions.closeAll("test over");
    }));
});

describe("a re-check that fails", () => {
  test("is tried again at the next poll, so a change made elsewhere still cuts the session", () =>
    withStore("sqlite", async (store) => {
      await appWithToken(store);
      await addPolicy(store, { app: "ssh.site.test", name: "staff", action: "allow", include: ["domain:example.com"] });
      const sessions = createLiveSessions(store);
      const closed = Promise.withResolvers<string>();
      sessions.start(
        { host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", identity: "jdoe@example.com", subject: { email: "jdoe@example.com" }, issuedAt: Date.now() - 1000, sessionId: "ses_1", decidedAt: Date.now() },
        { counters: () => ({ toOrigin: 0, toClient: 0 }), close: (_code, reason) => closed.resolve(reason) },
      );
      let failures = 0;
      const spy = spyOn(storeModule, "revokedSessions").mockImplementationOnce(async () => {
        failures++;
        throw new Error("the store did not answer");
      });
      const unwatch = watchAccess(store, 20, sessions.recheck);
      try {
        await revokeUser(store, "jdoe@example.com", "other-node"); // as another node would: store only
        expect(await closed.promise).toStartWith("the sign-in of jdoe@example.com was revoked at ");
        expect(failures).toBe(1); // the first pass after the change failed; the next one cut it
      } finally {
        spy.mockRestore();
        unwatch();
        await sessions.closeAll("test over");
      }
    }));
});

describe("a session held by another node of the cluster", () => {
  test("session revoke through node A cuts the session that node B holds, within 1 s; an id the audit never let in is a 404", () =>
    withStore("sqlite", async (store, dir) => {
      await appWithToken(store);
      await addPolicy(store, { app: "ssh.site.test", name: "staff", action: "allow", include: ["domain:example.com"] });
      await ensureBootstrapAdminToken(store, dir);
      const nodeA = createLiveSessions(store);
      const nodeB = createLiveSessions(store);
      const ctx: AdminContext = { store, publicUrl: "https://edge.test", onZonesChanged: async () => {}, sessions: nodeA };
      const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => handleAdmin(req, ctx) });
      try {
        const adminToken = (await Bun.file(`${dir}/admin-token`).text()).trim();
        const del = (id: string) => fetch(`${server.url}api/v1/sessions/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${adminToken}` } });
        // node B let jdoe in (the decision is in the shared audit) and holds the session
        const auth = { host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", identity: "jdoe@example.com", subject: { email: "jdoe@example.com" }, issuedAt: Date.now(), decidedAt: Date.now() };
        await writeAudit(store, { kind: "decision", allowed: true, identity: auth.identity, email: auth.identity, host: auth.host, app: auth.app, ip: auth.ip, sessionId: "ses_onb", reason: "allowed by policy staff" });
        const closed = Promise.withResolvers<{ code: number; reason: string; at: number }>();
        nodeB.start({ ...auth, sessionId: "ses_onb" }, { counters: () => ({ toOrigin: 1, toClient: 2 }), close: (code, reason) => closed.resolve({ code, reason, at: performance.now() }) });
        const unwatch = watchAccess(store, 100, nodeB.recheck);

        const started = performance.now();
        const res = await del("ses_onb");
        expect(res.status).toBe(202);
        expect(await res.json()).toMatchObject({ elsewhere: true, session: { id: "ses_onb", identity: "jdoe@example.com", host: "ssh.site.test", ip: "10.0.0.1" } });
        const c = await closed.promise;
        expect([c.code, c.reason]).toEqual([Close.denied, "session ses_onb was revoked by an admin"]);
        expect(c.at - started).toBeLessThan(1000);
        expect(nodeB.list()).toEqual([]);

        unwatch();
        await nodeB.closeAll("test over"); // waits for node B's audit of the end
        const unknown = await del("ses_never");
        expect(unknown.status).toBe(404);
        expect(((await unknown.json()) as { error: string }).error).toContain("the audit shows none open");
        expect((await del("ses_onb")).status).toBe(404); // ended: nothing left to revoke
        expect((await queryAudit(store, { kind: "admin" })).at(-1)).toMatchObject({ action: "session.revoke", reason: "revoked session ses_onb of jdoe@example.com to ssh.site.test from 10.0.0.1, held by another node" });
      } finally {
        server.stop(true);
        await nodeA.closeAll("test over");
      }
    }));
});

describe("a session that opens across an access change", () => {
  test("decided before the change, registered after it: it is re-checked and cut; another user's still stands", () =>
    withStore("sqlite", async (store) => {
      await appWithToken(store);
      await addPolicy(store, { app: "ssh.site.test", name: "staff", action: "allow", include: ["domain:example.com"] });
      const sessions = createLiveSessions(store);
      const decidedBefore = Date.now() - 1000;
      await revokeUser(store, "jdoe@example.com", "test");
      await sessions.recheck(); // this node learns of the change (no session of jdoe is registered yet)
      const closed = new Map<string, PromiseWithResolvers<string>>();
      const open = (id: string, email: string, decidedAt: number) => {
        closed.set(id, Promise.withResolvers<string>());
        sessions.start(
          { host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", identity: email, subject: { email }, issuedAt: decidedBefore - 1000, sessionId: id, decidedAt },
          { counters: () => ({ toOrigin: 0, toClient: 0 }), close: (_code, reason) => closed.get(id)!.resolve(reason) },
        );
      };
      open("ses_ann", "ann@example.com", decidedBefore); // re-checked too, and still allowed
      open("ses_jdoe", "jdoe@example.com", decidedBefore);
      expect(await closed.get("ses_jdoe")!.promise).toStartWith("the sign-in of jdoe@example.com was revoked at ");
      await sessions.recheck(); // a full pass: ann is still allowed
      expect(sessions.list().map((x) => x.id)).toEqual(["ses_ann"]);
      await sessions.closeAll("test over");
    }));

  test("registering such a session re-checks it alone, not every live session", () =>
    withStore("sqlite", async (store) => {
      await appWithToken(store);
      await addPolicy(store, { app: "ssh.site.test", name: "staff", action: "allow", include: ["domain:example.com"] });
      const sessions = createLiveSessions(store);
      const cut: string[] = [];
      const open = (id: string, email: string, decidedAt: number) =>
        sessions.start(
          { host: "ssh.site.test", app: "ssh.site.test", ip: "10.0.0.1", identity: email, subject: { email }, issuedAt: Date.now() - 60_000, sessionId: id, decidedAt },
          { counters: () => ({ toOrigin: 0, toClient: 0 }), close: () => cut.push(id) },
        );
      open("ses_jdoe", "jdoe@example.com", Date.now());
      await sessions.recheck(); // a change this node knows of; jdoe is still allowed then
      // a change this node has not learned yet (its watch would find it): jdoe is revoked
      await revokeUser(store, "jdoe@example.com", "other-node");
      const checked: string[] = [];
      const spy = spyOn(authorizeModule, "reauthorize").mockImplementation(async (...args) => {
        checked.push(args[1].subject.email!);
        return { ok: true };
      });
      try {
        open("ses_ann", "ann@example.com", Date.now() - 60_000); // decided before the known change
        while (checked.length === 0) await Promise.resolve(); // the re-check is under way
        expect(checked).toEqual(["ann@example.com"]); // a pass over every session would have begun with jdoe
      } finally {
        spy.mockRestore();
      }
      await sessions.recheck(); // now this node learns of it: jdoe is cut by this pass
      expect(cut).toEqual(["ses_jdoe"]);
      expect(sessions.list().map((x) => x.id)).toEqual(["ses_ann"]);
      await sessions.closeAll("test over");
    }));
});

describe("audit retention", () => {
  test("the edge prunes records older than the retention period when it starts", async () => {
    await using dir = await tempDir();
    const dataDir = dir.join("edge");
    {
      await using store = await openStore({ dataDir });
      await writeAudit(store, { kind: "admin", reason: "old" }, Date.now() - 3 * 86_400_000);
      await writeAudit(store, { kind: "admin", reason: "recent" }, Date.now() - 3_600_000);
    }
    const edge = await startEdge({ listen: "127.0.0.1:0", dataDir, tls: { mode: "off" }, auditRetentionMs: 2 * 86_400_000 });
    try {
      expect((await queryAudit(edge.store)).map((r) => r.reason)).toEqual(["recent"]);
    } finally {
      await edge.stop();
    }
  });
});

// Access control end to end: real sshd, the real ssh client, the compiled wicket as edge,
// connector, ProxyCommand and admin CLI. Revocation and policy changes cut live sessions
// within a second, the client is told why, and the audit shows the decision, the session's
// end with its byte counts, and the reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER } from "../lib/wire/http.ts";
import type { AuditRecord } from "../lib/store/index.ts";
import type { LiveSessionInfo } from "../lib/edge/decisions/live-sessions.ts";
import { expectExit, run, spawnProc, type Proc } from "./helpers/proc.ts";
import type { Sshd } from "./helpers/sshd.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startRig, type Rig } from "./helpers/rig.ts";
import { startEdge, wicket, WICKET, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";

let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig({ prefix: "wicket-access-" });
  ({ dir, sshd, edge } = rig);
});

afterAll(() => rig?.[Symbol.asyncDispose]());

/** A new service token on `edge`. */
async function token(e: TestEdge, name: string): Promise<ServiceToken> {
  const t = JSON.parse(await e.admin(["token", "create", name, "--json"]));
  return { id: t.id, secret: t.secret, name };
}

/** The audit records `wicket edge audit --json <args>` prints (one JSON object a line). */
async function audit(e: TestEdge, args: string[]): Promise<AuditRecord[]> {
  const out = await e.admin(["audit", "--json", ...args]);
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const sessions = async (e: TestEdge): Promise<LiveSessionInfo[]> => JSON.parse(await e.admin(["session", "list", "--json"]));

/**
 * A live ssh session: the remote shell prints "ready" and then echoes its stdin, so the test
 * knows it is up and can check it still carries bytes.
 */
async function liveSsh(host: string, t: ServiceToken): Promise<{ ssh: Proc; session: LiveSessionInfo }> {
  const client = await sshd.client(host, { proxyCommand: edge.proxyCommand(t) });
  const ssh = spawnProc(["ssh", ...client.args, host, "echo ready; exec cat"], { name: `ssh as ${t.name}`, stdin: "pipe" });
  await ssh.waitForLine(/^ready$/, { stream: "stdout", timeoutMs: 15_000 });
  const session = (await sessions(edge)).find((s) => s.identity === `token:${t.name}` && s.host === host);
  if (!session) throw new Error(`no live session of ${t.name} to ${host} in "wicket edge session list"`);
  return { ssh, session };
}

/** Types a line into a live session and waits for it to come back. */
async function echo(ssh: Proc, line: string) {
  ssh.stdin!.write(line + "\n");
  ssh.stdin!.flush();
  await ssh.waitForLine(new RegExp(`^${line}$`), { stream: "stdout" });
}

/** Waits for ssh to end and says how long that took from `since` (performance.now()). */
async function cutWithin(ssh: Proc, since: number): Promise<{ code: number; ms: number }> {
  const code = await ssh.exited;
  return { code, ms: performance.now() - since };
}

describe("revoking a service token", () => {
  const HOST = "rev.site.test";
  let t: ServiceToken;

  beforeAll(async () => {
    t = await edge.app(HOST);
    await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
  });

  test("cuts its live ssh session within 1 s; the client says why; a new ssh is refused with the reason; the audit has it all", async () => {
    const { ssh, session } = await liveSsh(HOST, t);
    await echo(ssh, "still-here");
    expect(session).toMatchObject({ identity: `token:${t.name}`, host: HOST, ip: "127.0.0.1" });

    const started = performance.now();
    const revoked = wicket(["edge", "token", "revoke", t.name, "--data-dir", edge.dataDir]);
    const { code, ms } = await cutWithin(ssh, started);
    const r = expectExit(await revoked);
    console.log(`token revoke -> ssh session cut in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
    expect(r.stdout).toContain("closed 1 live session");
    expect(code).toBe(255); // ssh: the ProxyCommand ended the connection
    expect(ssh.stderr()).toContain(`service token "${t.name}" was revoked`);
    expect((await sessions(edge)).find((s) => s.id === session.id)).toBeUndefined();

    const again = await run(["ssh", ...(await sshd.client(HOST, { proxyCommand: edge.proxyCommand(t) })).args, HOST, "true"]);
    expect(again.code).toBe(255);
    expect(again.stderr).toContain(`the service token "${t.name}" was revoked; ask an admin for a new one`);

    const records = await audit(edge, ["--user", t.name]);
    const allowed = records.find((x) => x.kind === "decision" && x.allowed && x.sessionId === session.id);
    expect(allowed).toMatchObject({ identity: `token:${t.name}`, tokenId: t.id, host: HOST, app: HOST, ip: "127.0.0.1", policyName: `allow ${t.name}`, rule: `include token:${t.name}` });
    const end = records.find((x) => x.kind === "session-end" && x.sessionId === session.id)!;
    expect(end).toMatchObject({ identity: `token:${t.name}`, host: HOST, reason: `service token "${t.name}" was revoked` });
    expect(end.bytesToOrigin).toBeGreaterThan(1000); // the SSH handshake and the typed line
    expect(end.bytesToClient).toBeGreaterThan(1000);
    expect(end.durationMs).toBeGreaterThan(0);
    const refused = records.findLast((x) => x.kind === "decision" && !x.allowed);
    expect(refused).toMatchObject({ identity: `token:${t.name}`, host: HOST, reason: `the service token "${t.name}" was revoked; ask an admin for a new one` });
    const adminRecord = records.find((x) => x.kind === "admin" && x.action === "token.revoke");
    expect(adminRecord).toMatchObject({ actor: "bootstrap", tokenId: t.id });
    expect(adminRecord!.reason).toContain("closing 1 live session");
  });
});

describe("a policy change", () => {
  const HOST = "pol.site.test";
  let keep: ServiceToken;
  let drop: ServiceToken;
  let policyId: string;

  beforeAll(async () => {
    await edge.admin(["app", "add", HOST]);
    keep = await token(edge, "pol-keep");
    drop = await token(edge, "pol-drop");
    const p = JSON.parse(await edge.admin(["policy", "add", HOST, "--name", "both", "--action", "allow", "--include", "token:pol-keep", "--include", "token:pol-drop", "--json"]));
    policyId = p.id;
    await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
  });

  test("that removes a token cuts that token's live session within 1 s and leaves the others", async () => {
    const a = await liveSsh(HOST, keep);
    const b = await liveSsh(HOST, drop);
    await echo(b.ssh, "before-the-change");

    const started = performance.now();
    const edited = wicket(["edge", "policy", "edit", policyId, "--include", "token:pol-keep", "--data-dir", edge.dataDir]);
    const { code, ms } = await cutWithin(b.ssh, started);
    const r = expectExit(await edited);
    console.log(`policy edit -> ssh session cut in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
    expect(r.stdout).toContain("closed 1 live session it no longer allows");
    expect(code).toBe(255);
    const why = `policy change: access to ${HOST} denied: no policy allows service token "pol-drop"`;
    expect(b.ssh.stderr()).toContain(why);

    // The session the policy still allows carries on.
    await echo(a.ssh, "unaffected");
    expect((await sessions(edge)).map((s) => s.id)).toContain(a.session.id);

    const records = await audit(edge, ["--user", "pol-drop"]);
    expect(records.find((x) => x.kind === "decision" && x.sessionId === b.session.id)).toMatchObject({ allowed: true, policyName: "both", rule: "include token:pol-drop" });
    const end = records.find((x) => x.kind === "session-end" && x.sessionId === b.session.id)!;
    expect(end).toMatchObject({ reason: why, host: HOST });
    expect(end.bytesToOrigin).toBeGreaterThan(1000);
    expect(end.bytesToClient).toBeGreaterThan(1000);
    expect((await audit(edge, ["--host", HOST])).find((x) => x.kind === "admin" && x.action === "policy.edit")).toMatchObject({ policyId, actor: "bootstrap" });

    // A new connection with the dropped token is refused with the same explanation.
    const again = await run(["ssh", ...(await sshd.client(HOST, { proxyCommand: edge.proxyCommand(drop) })).args, HOST, "true"]);
    expect(again.code).toBe(255);
    expect(again.stderr).toContain(`access to ${HOST} denied: no policy allows service token "pol-drop"`);
    const denied = await audit(edge, ["--denied", "--host", HOST]);
    expect(denied.at(-1)).toMatchObject({ kind: "decision", allowed: false, identity: "token:pol-drop", reason: `no policy allows service token "pol-drop"` });

    a.ssh.stdin!.end();
    expect(await a.ssh.exited).toBe(0);
    const normal = (await audit(edge, ["--user", "pol-keep"])).find((x) => x.kind === "session-end" && x.sessionId === a.session.id);
    // ssh hangs up on its ProxyCommand as it exits, so the edge may see the stream end
    // cleanly or the client go first.
    expect(normal?.reason).toMatch(/^(ended normally|the client disconnected|the client went away)/);
  });

  test("a deny policy moved to the front cuts the sessions it matches", async () => {
    const a = await liveSsh(HOST, keep);
    const deny = JSON.parse(await edge.admin(["policy", "add", HOST, "--name", "maintenance", "--action", "deny", "--include", "any-token", "--json"]));
    expect(deny.position).toBe(1);
    expect(a.ssh.exitCode).toBeUndefined(); // behind the allow, it decides nothing yet
    const started = performance.now();
    const moved = wicket(["edge", "policy", "move", deny.id, "0", "--data-dir", edge.dataDir]);
    const { ms } = await cutWithin(a.ssh, started);
    expect(expectExit(await moved).stdout).toContain(`moved policy "maintenance" (${deny.id}) of ${HOST} to position 0; closed 1 live session`);
    expect(ms).toBeLessThan(1000);
    expect(a.ssh.stderr()).toContain(`policy change: access to ${HOST} denied by policy "maintenance" (include any-token)`);
    const end = (await audit(edge, ["--user", "pol-keep"])).find((x) => x.kind === "session-end" && x.sessionId === a.session.id);
    expect(end).toMatchObject({ policyId: deny.id, policyName: "maintenance", rule: "include any-token" });
    await edge.admin(["policy", "rm", deny.id]);
  });
});

describe("wicket edge session", () => {
  const HOST = "ses.site.test";
  let t: ServiceToken;

  beforeAll(async () => {
    t = await edge.app(HOST);
    await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
  });

  test("list shows a live session; revoke cuts that one only, and the token still works", async () => {
    const a = await liveSsh(HOST, t);
    const b = await liveSsh(HOST, t);
    await echo(a.ssh, "x".repeat(2000));
    const listed = (await sessions(edge)).find((s) => s.id === a.session.id)!;
    expect(listed).toMatchObject({ identity: `token:${t.name}`, host: HOST, app: HOST, ip: "127.0.0.1" });
    expect(listed.bytesToOrigin).toBeGreaterThan(2000);
    expect(listed.startedAt).toBeLessThanOrEqual(Date.now());
    const table = await edge.admin(["session", "list"]);
    expect(table).toMatch(new RegExp(`^ID\\s+IDENTITY\\s+HOST\\s+IP\\s+STARTED\\s+UP\\s+DOWN`));
    expect(table).toContain(a.session.id);

    const started = performance.now();
    const revoked = wicket(["edge", "session", "revoke", a.session.id, "--data-dir", edge.dataDir]);
    const { ms } = await cutWithin(a.ssh, started);
    expect(expectExit(await revoked).stdout).toContain(`closed session ${a.session.id}`);
    expect(ms).toBeLessThan(1000);
    expect(a.ssh.stderr()).toContain(`session ${a.session.id} was revoked by an admin`);
    await echo(b.ssh, "b-still-here");
    b.ssh.stdin!.end();
    expect(await b.ssh.exited).toBe(0);

    const missing = await wicket(["edge", "session", "revoke", a.session.id, "--data-dir", edge.dataDir]);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toContain(`there is no live session "${a.session.id}": not on this edge node, and the audit shows none open`);
  });
});

describe("wicket edge policy test", () => {
  const HOST = "test.site.test";

  beforeAll(async () => {
    await edge.admin(["app", "add", HOST]);
    await token(edge, "pt-ci");
    await edge.admin(["policy", "add", HOST, "--name", "office", "--action", "allow", "--include", "domain:example.com", "--require", "ip:10.0.0.0/8", "--require", "mfa"]);
    await edge.admin(["policy", "add", HOST, "--name", "ci", "--action", "allow", "--include", "token:pt-ci"]);
    await edge.admin(["policy", "add", HOST, "--name", "no-contractors", "--action", "deny", "--include", "group:contractors", "--position", "0"]);
  });

  const policyTest = (args: string[]) => wicket(["edge", "policy", "test", HOST, ...args, "--data-dir", edge.dataDir]);

  test("prints the decision, the application, the policy and the rule; 0 when allowed", async () => {
    const r = expectExit(await policyTest(["--email", "jdoe@example.com", "--ip", "10.1.2.3", "--mfa"]));
    expect(r.stdout.split("\n")[0]).toBe(`access to ${HOST} allowed by policy "office" (include domain:example.com)`);
    expect(r.stdout).toContain(`application: ${HOST}`);
    expect(r.stdout).toMatch(/policy: +"office" \(pol_[0-9a-f]+\)/);
    expect(r.stdout).toContain("rule:        include domain:example.com");
  });

  test("77 when denied, with the explanation a denied client gets", async () => {
    const noMfa = await policyTest(["--email", "jdoe@example.com", "--ip", "10.1.2.3"]);
    expect(noMfa.code).toBe(77);
    expect(noMfa.stdout.split("\n")[0]).toBe(`access to ${HOST} denied: no policy allows user "jdoe@example.com"`);
    const contractor = await policyTest(["--email", "jdoe@example.com", "--ip", "10.1.2.3", "--mfa", "--group", "staff", "--group", "contractors"]);
    expect(contractor.code).toBe(77);
    expect(contractor.stdout.split("\n")[0]).toBe(`access to ${HOST} denied by policy "no-contractors" (include group:contractors)`);
    const ci = expectExit(await policyTest(["--token", "pt-ci", "--json"]));
    expect(JSON.parse(ci.stdout)).toMatchObject({ app: HOST, decision: { allowed: true, policy: { name: "ci" }, rule: "include token:pt-ci" } });
  });

  test("bad input is a usage error that says what to pass", async () => {
    const none = await policyTest([]);
    expect([none.code, none.stderr]).toEqual([64, expect.stringContaining("--token <id-or-name> or --email <e-mail>")]);
    const unknown = await policyTest(["--token", "nope"]);
    expect([unknown.code, unknown.stderr]).toEqual([64, expect.stringContaining(`there is no service token "nope"`)]);
    const badIp = await policyTest(["--email", "a@b.test", "--ip", "10.0.0.300"]);
    expect([badIp.code, badIp.stderr]).toEqual([64, expect.stringContaining(`"10.0.0.300" is not an IPv4 or IPv6 address`)]);
  });
});

describe("per-application settings", () => {
  test("app add --session-length, app edit, app list", async () => {
    expect(await edge.admin(["app", "add", "len.site.test", "--session-length", "8h"])).toContain("added application len.site.test");
    expect(await edge.admin(["app", "list"])).toMatch(/len\.site\.test\s+site\.test\s+8h\s+localpart\s/);
    expect(await edge.admin(["app", "edit", "len.site.test", "--session-length", "30d"])).toBe("len.site.test: sign-ins last 30d; SSH principal: localpart\n");
    expect(await edge.admin(["app", "edit", "len.site.test", "--default-session-length"])).toBe("len.site.test: sign-ins last 24h (the default); SSH principal: localpart\n");
    const bad = await wicket(["edge", "app", "edit", "len.site.test", "--session-length", "10s", "--data-dir", edge.dataDir]);
    expect([bad.code, bad.stderr.trim()]).toEqual([64, "error: the session length must be from 1 minute to 365 days, e.g. 24h or 30d"]);
  });

  test("app edit --ssh-principal changes what certificates name; a removed and re-added app starts from the default", async () => {
    await edge.admin(["app", "add", "unix.site.test"]);
    expect(await edge.admin(["app", "edit", "unix.site.test", "--ssh-principal", "claim:unix_user"])).toBe("unix.site.test: sign-ins last 24h (the default); SSH principal: claim:unix_user\n");
    expect(await edge.admin(["app", "list"])).toMatch(/unix\.site\.test\s+site\.test\s+24h \(default\)\s+claim:unix_user\s/);
    const bad = await wicket(["edge", "app", "edit", "unix.site.test", "--ssh-principal", "uid", "--data-dir", edge.dataDir]);
    expect([bad.code, bad.stderr.trim()]).toEqual([64, 'error: "uid" is not a principal setting; use localpart, email or claim:<name>']);
    const nothing = await wicket(["edge", "app", "edit", "unix.site.test", "--data-dir", edge.dataDir]);
    expect(nothing.code).toBe(64);
    await edge.admin(["app", "rm", "unix.site.test"]);
    await edge.admin(["app", "add", "unix.site.test"]);
    expect(await edge.admin(["app", "list"])).toMatch(/unix\.site\.test\s+site\.test\s+24h \(default\)\s+localpart\s/);
  });
});

describe("wicket edge audit", () => {
  test("--follow prints new records as they come", async () => {
    await using follow = spawnProc([WICKET, "edge", "audit", "--follow", "--json", "--host", "ssh.follow.test", "--data-dir", edge.dataDir], { name: "audit --follow" });
    await edge.admin(["zone", "add", "follow.test"]);
    await edge.admin(["app", "add", "ssh.follow.test"]);
    const [line] = await follow.waitForLine(/^\{.*"action":"app\.add".*\}$/, { stream: "stdout", timeoutMs: 10_000 });
    expect(JSON.parse(line!)).toMatchObject({ kind: "admin", action: "app.add", host: "ssh.follow.test", actor: "bootstrap" });
    expect(await follow.stop()).toBe(0);
  });

  test("text lines, --since, and a bad --since", async () => {
    const text = await edge.admin(["audit", "--since", "1h", "--host", "rev.site.test"]);
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}allow {3}rev\.site\.test {2}token:\S+ {2}127\.0\.0\.1 {2}ses_[0-9a-f]+ {2}allowed by policy/m);
    expect(text).toMatch(/ {2}end {5}rev\.site\.test {2}token:\S+ {2}127\.0\.0\.1 {2}ses_[0-9a-f]+ {2}\d+\.\d KiB up, \d+\.\d KiB down, \d+\.\d s: service token "\S+" was revoked$/m);
    expect(await edge.admin(["audit", "--since", "2000-01-01T00:00:00Z", "--host", "nowhere.site.test"])).toBe("");
    const bad = await wicket(["edge", "audit", "--since", "yesterday", "--data-dir", edge.dataDir]);
    expect(bad.code).toBe(64);
  });
});

describe("the client's address for the ip rule", () => {
  const HOST = "xff.site.test";

  /** An app on `e` that lets a token in only from 203.0.113.0/24, with a connector to the sshd. */
  async function ipOnlyApp(e: TestEdge): Promise<ServiceToken> {
    await e.admin(["zone", "add", "site.test"]).catch(() => {}); // a second edge has its own store
    await e.admin(["app", "add", HOST]);
    const t = await token(e, `xff-${crypto.randomUUID().slice(0, 6)}`);
    await e.admin(["policy", "add", HOST, "--name", "from the office", "--action", "allow", "--include", `token:${t.name}`, "--require", "ip:203.0.113.0/24"]);
    await e.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
    return t;
  }

  /** Opens a client WebSocket to `e` claiming X-Forwarded-For: 203.0.113.7; resolves with what comes first. */
  async function connectClaiming(e: TestEdge, t: ServiceToken): Promise<{ closed?: { code: number; reason: string }; data?: string }> {
    const ca = await Bun.file(e.caFile).text();
    const ws = new WebSocket(e.url.replace(/^https/, "wss") + "/", {
      headers: { host: HOST, [CLIENT_ID_HEADER]: t.id, [CLIENT_SECRET_HEADER]: t.secret, "x-forwarded-for": "203.0.113.7" },
      tls: { ca, servername: HOST },
    } as any);
    ws.binaryType = "arraybuffer";
    return await new Promise((resolve, reject) => {
      ws.onmessage = (ev) => {
        if (ev.data === "open") return; // the edge let it through; the origin's bytes follow
        resolve({ data: typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer) });
        ws.close(1000, "done");
      };
      ws.onclose = (ev) => resolve({ closed: { code: ev.code, reason: ev.reason } });
      ws.onerror = () => reject(new Error(`WebSocket to ${e.url} failed`));
    });
  }

  test("X-Forwarded-For from a peer that is not a trusted proxy is ignored", async () => {
    const t = await ipOnlyApp(edge);
    const r = await connectClaiming(edge, t);
    expect(r.closed).toEqual({ code: 4403, reason: `access to ${HOST} denied: no policy allows service token "${t.name}"` });
    const [decision] = await audit(edge, ["--user", t.name, "--denied"]);
    expect(decision).toMatchObject({ ip: "127.0.0.1", allowed: false });
  });

  test("X-Forwarded-For from a trusted proxy gives the client's address", async () => {
    await using trusting = await startEdge({ extra: ["--trusted-proxies", "192.0.2.0/24, 127.0.0.1"] });
    const t = await ipOnlyApp(trusting);
    const r = await connectClaiming(trusting, t);
    expect(r.data).toStartWith("SSH-2.0-"); // the stream opened: sshd's banner came back
    const decision = (await audit(trusting, ["--user", t.name])).find((x) => x.kind === "decision");
    expect(decision).toMatchObject({ kind: "decision", allowed: true, ip: "203.0.113.7", policyName: "from the office" });
  });

  test("a malformed --trusted-proxies stops the edge with a config error", async () => {
    await using tmp = await tempDir();
    const r = await wicket(["edge", "serve", "--listen", "127.0.0.1:0", "--data-dir", tmp.join("edge"), "--trusted-proxies", "10.0.0.0/8,not-an-ip"]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`trusted proxy "not-an-ip" is not an IP address or CIDR range`);
  });
});

describe("an audit that cannot be written", () => {
  test("refuses new connections with the reason (75), and lets them in again once it can", async () => {
    const HOST = "aud.site.test";
    const t = await edge.app(HOST);
    await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
    const client = await sshd.client(HOST, { proxyCommand: edge.proxyCommand(t) });
    // The edge's own SQLite file, opened beside it: take the audit table away, then give it back.
    using db = new Database(`${edge.dataDir}/wicket.db`);
    db.run("PRAGMA busy_timeout = 5000"); // the edge may be writing (its connectors registering)
    db.run("ALTER TABLE audit RENAME TO audit_away");
    try {
      const r = await run(["ssh", ...client.args, HOST, "echo in"]);
      expect(r.code).toBe(255);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("the edge cannot write its audit log, so it lets no one in; try again later");
    } finally {
      db.run("ALTER TABLE audit_away RENAME TO audit");
    }
    const ok = await run(["ssh", ...client.args, HOST, "echo in"]);
    expect([ok.code, ok.stdout]).toEqual([0, "in\n"]);
  });
});

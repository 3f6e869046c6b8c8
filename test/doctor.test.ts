// `wicket doctor` and `wicket tunnel doctor` against the real binaries: one edge, a real sshd,
// real connectors, and for each hop a set-up where that hop alone fails. Each run must name
// the hop, the reason and the fix, exit with the documented code, and finish in under 2 s
// (the times are printed; the assertion is generous, for loaded CI machines).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import type { TCPSocketListener } from "bun";
import { freePort } from "./helpers/ports.ts";
import type { Sshd } from "./helpers/sshd.ts";
import type { TempDir } from "./helpers/tmp.ts";
import { startRig, type AppRig } from "./helpers/rig.ts";
import { wicket, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";
import type { RunResult } from "./helpers/proc.ts";
import { parseZoneCredential } from "../lib/auth/zone-credential.ts";

const HOST = "ssh.site.test";
let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let token: ServiceToken;
let hello: TCPSocketListener;
let rig: AppRig;
/** HOME and WICKET_HOME of a laptop with nothing in it: doctor must not read the real ~/.ssh. */
let laptop: { HOME: string; WICKET_HOME: string };

beforeAll(async () => {
  rig = await startRig({ prefix: "wicket-doctor-", app: HOST });
  ({ dir, sshd, edge, token } = rig);
  laptop = { HOME: dir.join("home"), WICKET_HOME: dir.join("home", ".wicket") };
  mkdirSync(laptop.WICKET_HOME, { recursive: true });
  // a TCP server that is not SSH: it says hello, as the non-SSH origin
  hello = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void s.write("hello\n"), data() {} } });
  await Promise.all([
    (async () => {
      await edge.admin(["app", "add", "refused.site.test"]);
      await edge.admin(["policy", "add", "refused.site.test", "--name", "ci", "--action", "allow", "--include", `token:${token.name}`]);
      await edge.tunnel("refused.site.test", `tcp://127.0.0.1:${freePort()}`);
    })(),
    (async () => {
      await edge.admin(["app", "add", "hello.site.test"]);
      await edge.admin(["policy", "add", "hello.site.test", "--name", "ci", "--action", "allow", "--include", `token:${token.name}`]);
      await edge.tunnel("hello.site.test", `ssh://127.0.0.1:${hello.port}`);
    })(),
    (async () => {
      await edge.admin(["app", "add", "nocon.site.test"]);
      await edge.admin(["policy", "add", "nocon.site.test", "--name", "ci", "--action", "allow", "--include", `token:${token.name}`]);
    })(),
  ]);
}, 60_000);

afterAll(async () => {
  hello?.stop(true);
  await rig?.[Symbol.asyncDispose]();
});

/** `wicket doctor` on the laptop, timed; the time is printed, as the issue asks. */
async function doctor(args: string[], opts: { edge?: boolean; ca?: boolean; token?: ServiceToken | null; env?: Record<string, string> } = {}): Promise<RunResult & { ms: number }> {
  const t = opts.token === undefined ? token : opts.token;
  const all = [
    "doctor",
    ...args,
    ...(opts.edge === false ? [] : ["--edge", edge.url]),
    ...(opts.ca === false ? [] : ["--ca-file", edge.caFile]),
    ...(t ? ["--id", t.id, "--secret", t.secret] : []),
  ];
  const start = performance.now();
  const r = await wicket(all, { env: { ...laptop, ...opts.env } });
  const ms = Math.round(performance.now() - start);
  console.log(`wicket doctor ${args.join(" ")}: exit ${r.code} in ${ms} ms\n${r.stdout}`);
  return { ...r, ms };
}

/** The run failed at `hop` with `code`, saying `reason` and a fix, and every hop before it passed. */
function expectFailure(r: RunResult & { ms: number }, hop: string, code: number, reason: string | RegExp) {
  const lines = r.stdout.split("\n");
  const at = lines.findIndex((l) => l.startsWith("FAIL "));
  expect(at, `no FAIL line in:\n${r.stdout}${r.stderr}`).toBeGreaterThanOrEqual(0);
  expect(lines[at]!.split(/\s+/)[1]).toBe(hop);
  if (typeof reason === "string") expect(lines[at]).toContain(reason);
  else expect(lines[at]).toMatch(reason);
  expect(lines[at + 1]).toMatch(/^\s+fix: \S/);
  expect(lines.slice(0, at).every((l) => l.startsWith("ok "))).toBe(true);
  expect(lines.slice(at + 2).join("")).toBe(""); // stopped there
  expect(r.code).toBe(code);
  expect(r.ms).toBeLessThan(5_000);
}

const audited = async () => (await edge.admin(["audit", "--json"])).split("\n").filter(Boolean).length;

describe("wicket doctor names the hop that fails", () => {
  test("all green through a real sshd: every hop ok, exit 0, the SSH banner read through the tunnel", async () => {
    const r = await doctor(["--hostname", HOST]);
    expect(r.code).toBe(0);
    const hops = r.stdout.trim().split("\n").map((l) => l.split(/\s+/).slice(0, 2).join(" "));
    expect(hops).toEqual(["ok resolve", "ok tls", "ok application", "ok credentials", "ok policy", "ok connector", "ok origin", "ok ssh-config"]);
    expect(r.stdout).toMatch(/origin .*"SSH-2\.0-OpenSSH/);
    expect(r.stdout).toContain(`allowed by policy "allow ${token.name}"`);
    expect(r.stdout).not.toContain(token.secret);
    expect(r.ms).toBeLessThan(5_000);
  });

  test("--json gives the same hops as an array, with their times", async () => {
    const r = await doctor(["--hostname", HOST, "--json"]);
    expect(r.code).toBe(0);
    const hops = JSON.parse(r.stdout) as { hop: string; ok: boolean; ms: number }[];
    expect(hops.map((h) => h.hop)).toEqual(["resolve", "tls", "application", "credentials", "policy", "connector", "origin", "ssh-config"]);
    expect(hops.every((h) => h.ok && typeof h.ms === "number")).toBe(true);
  });

  test("a name that does not resolve: resolve, exit 69", async () => {
    expectFailure(await doctor(["--hostname", "nowhere.invalid"], { edge: false }), "resolve", 69, "nowhere.invalid does not resolve");
  });

  test("an untrusted certificate (no --ca-file): tls, exit 69, and the fix names --ca-file", async () => {
    const r = await doctor(["--hostname", HOST], { ca: false });
    expectFailure(r, "tls", 69, "is not trusted");
    expect(r.stdout).toContain("--ca-file");
  });

  test("an unknown application: application, exit 78", async () => {
    const r = await doctor(["--hostname", "nope.site.test"]);
    expectFailure(r, "application", 78, "the edge serves no application at nope.site.test");
    expect(r.stdout).toContain("wicket edge app add nope.site.test");
  });

  test("a wrong secret: credentials, exit 77, and the secret is not printed", async () => {
    const wrong = { ...token, secret: "wrong-secret-0123456789" };
    const r = await doctor(["--hostname", HOST], { token: wrong });
    expectFailure(r, "credentials", 77, "the service token was refused");
    expect(r.stdout + r.stderr).not.toContain(wrong.secret);
  });

  test("an expired cached token and no sign-in session: credentials, exit 77, with when it expired; nothing is audited for it", async () => {
    const home = { HOME: dir.join("expired"), WICKET_HOME: dir.join("expired", ".wicket") };
    const exp = Math.floor(Date.now() / 1000) - 3600;
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const jwt = `${b64({ alg: "EdDSA", typ: "JWT" })}.${b64({ email: "jdoe@site.test", aud: HOST, exp })}.c2ln`;
    mkdirSync(`${home.WICKET_HOME}/tokens`, { recursive: true });
    writeFileSync(`${home.WICKET_HOME}/tokens/${HOST}.jwt`, jwt + "\n", { mode: 0o600 });
    const before = await audited();
    const r = await doctor(["--hostname", HOST], { token: null, env: home });
    expectFailure(r, "credentials", 77, `expired at ${new Date(exp * 1000).toISOString().replace(/\.\d+Z$/, "Z")}`);
    expect(r.stdout).toContain(`wicket access login ${HOST}`);
    expect(r.stdout).not.toContain(jwt);
    expect(await audited()).toBe(before);
  });

  test("a policy that denies: policy, exit 77, naming the policy", async () => {
    const name = `blocked-${crypto.randomUUID().slice(0, 6)}`;
    const blocked = JSON.parse(await edge.admin(["token", "create", name, "--json"]));
    await edge.admin(["policy", "add", HOST, "--name", "ci-freeze", "--action", "deny", "--include", `token:${name}`, "--position", "1"]);
    const r = await doctor(["--hostname", HOST], { token: { id: blocked.id, secret: blocked.secret, name } });
    expectFailure(r, "policy", 77, `denied by policy "ci-freeze"`);
  });

  test("no connector: connector, exit 75", async () => {
    const r = await doctor(["--hostname", "nocon.site.test"]);
    expectFailure(r, "connector", 75, "no connector is online for nocon.site.test");
    expect(r.stdout).toContain("wicket tunnel --hostname nocon.site.test");
  });

  test("an origin that refuses: origin, exit 75", async () => {
    const r = await doctor(["--hostname", "refused.site.test"]);
    expectFailure(r, "origin", 75, /cannot reach origin tcp:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  test("a server that is not SSH: origin, exit 78, showing what it sent", async () => {
    const r = await doctor(["--hostname", "hello.site.test"]);
    expectFailure(r, "origin", 78, `the origin is not an SSH server: it sent "hello"`);
  });

  test("a stale ~/.ssh/config stanza: ssh-config, exit 78; the stanza `ssh-config` prints passes", async () => {
    const home = { HOME: dir.join("stanza"), WICKET_HOME: dir.join("stanza", ".wicket") };
    mkdirSync(`${home.HOME}/.ssh`, { recursive: true });
    writeFileSync(`${home.HOME}/.ssh/config`, `Host ${HOST}\n\tProxyCommand /old/place/wicket access ssh --hostname %h\n`);
    const stale = await doctor(["--hostname", HOST], { env: home });
    expectFailure(stale, "ssh-config", 78, "/old/place/wicket");
    expect(stale.stdout).toContain(`wicket access ssh-config --hostname ${HOST}`);

    const printed = await wicket(["access", "ssh-config", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile]);
    writeFileSync(`${home.HOME}/.ssh/config`, `# mine\nHost other\n\tUser x\n\n${printed.stdout}`);
    const fresh = await doctor(["--hostname", HOST], { env: home });
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/ok\s+ssh-config .*is what `ssh-config` prints/);
  });

  test("a short-lived-certificate stanza: the principal certificates would name, or why there is none (exit 77)", async () => {
    const home = { HOME: dir.join("cert"), WICKET_HOME: dir.join("cert", ".wicket") };
    mkdirSync(`${home.HOME}/.ssh`, { recursive: true });
    const printed = await wicket(["access", "ssh-config", "--hostname", HOST, "--short-lived-cert", "--edge", edge.url, "--ca-file", edge.caFile], { env: home });
    writeFileSync(`${home.HOME}/.ssh/config`, printed.stdout);
    // edge.app's token was made without --principal
    const none = await doctor(["--hostname", HOST], { env: home });
    expectFailure(none, "ssh-config", 77, "has no SSH principal");

    const name = `deploy-${crypto.randomUUID().slice(0, 6)}`;
    const deploy = JSON.parse(await edge.admin(["token", "create", name, "--principal", "deploy", "--json"]));
    await edge.admin(["policy", "add", HOST, "--name", `allow ${name}`, "--action", "allow", "--include", `token:${name}`]);
    const ok = await doctor(["--hostname", HOST], { env: home, token: { id: deploy.id, secret: deploy.secret, name } });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok\s+ssh-config .*certificates name deploy, valid for 5 min; none obtained yet/);
  });

  test("--all goes on after a failure and marks what it could not check", async () => {
    const r = await doctor(["--hostname", "nope.site.test", "--all"]);
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/^FAIL application/m);
    expect(r.stdout).toMatch(/^skip credentials .*not checked/m);
    expect(r.stdout).toMatch(/^ok\s+ssh-config/m);
  });

  test("the edge's answer to an anonymous caller: version and application only, and no audit row", async () => {
    const before = await audited();
    const res = await fetch(`${edge.url}/.well-known/wicket/doctor`, { headers: { host: HOST }, tls: { ca: await Bun.file(edge.caFile).text(), servername: HOST } } as RequestInit);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["app", "edge"]);
    expect(body.app).toEqual({ hostname: HOST });
    expect(await audited()).toBe(before);
  });
});

describe("wicket tunnel doctor", () => {
  test("checks the settings, the zone credential at the edge, the edge, an SSH origin and the metrics address", async () => {
    const cert = await edge.tunnelCert("site.test");
    const start = performance.now();
    const r = await wicket(["tunnel", "doctor", "--hostname", HOST, "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", cert, "--metrics", `127.0.0.1:${freePort()}`], { env: laptop });
    console.log(`wicket tunnel doctor: exit ${r.code} in ${Math.round(performance.now() - start)} ms\n${r.stdout}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+credential at the edge .*live: zone credential \S+ .*in zone site\.test, expires \d{4}-/m);
    expect(r.stdout).toMatch(/^ok\s+edge https:\/\/127\.0\.0\.1:\d+ .*trusted/m);
    expect(r.stdout).toMatch(/^ok\s+origin ssh\.site\.test .*"SSH-2\.0-/m);
    expect(r.stdout).toMatch(/^ok\s+metrics .* is free/m);
  });

  test("a revoked zone credential fails at the edge with exit 77; a non-SSH ssh:// origin with exit 78", async () => {
    const cert = await edge.tunnelCert("site.test");
    const { id } = parseZoneCredential(await Bun.file(cert).text());
    await edge.admin(["tunnel-cert", "revoke", id]);
    const revoked = await wicket(["tunnel", "doctor", "--hostname", HOST, "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", cert], { env: laptop });
    expect(revoked.code).toBe(77);
    expect(revoked.stdout).toMatch(/^FAIL credential at the edge .*revoked/m);

    const good = await edge.tunnelCert("site.test");
    const notSsh = await wicket(["tunnel", "doctor", "--hostname", HOST, "--url", `ssh://127.0.0.1:${hello.port}`, "--origincert", good], { env: laptop });
    expect(notSsh.code).toBe(78);
    expect(notSsh.stdout).toMatch(/^FAIL origin ssh\.site\.test .*is not an SSH server: it sent "hello/m);
  });
});

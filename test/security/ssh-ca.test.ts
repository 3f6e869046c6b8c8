// An SSH CA per application: a certificate obtained at one application must open no other
// application's server, even one the same person can reach on the network, because each
// application's servers trust only that application's CA. Real sshd servers that trust only
// a CA (no authorized_keys), the compiled edge on port 0, real TLS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rm } from "node:fs/promises";
import { expectExit, run } from "../helpers/proc.ts";
import { ensureUnixUser, startSshd, type Sshd } from "../helpers/sshd.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, wicket, type ServiceToken, type TestEdge } from "../helpers/wicket.ts";
import { generateEd25519, parseEd25519PublicLine, publicLine } from "../../lib/ssh/format.ts";
import { openStore } from "../../lib/store/index.ts";

const A = "a.site.test";
const B = "b.site.test";
let dir: TempDir;
let edge: TestEdge;
let sshdA: Sshd;
let sshdB: Sshd;
/** Allowed at A only: B's policy refuses it. */
let deploy: ServiceToken;
let home: string;

const env = () => ({ WICKET_HOME: home, WICKET_SERVICE_TOKEN_ID: deploy.id, WICKET_SERVICE_TOKEN_SECRET: deploy.secret });
/** GET `https://<host>/<path>` on the edge: status and body. */
const fetchOn = async (host: string, path: string) => {
  const r = await run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert", edge.caFile, "--resolve", `${host}:${edge.port}:127.0.0.1`, `https://${host}:${edge.port}${path}`]);
  const lines = r.stdout.split("\n");
  return { status: Number(lines.pop()), body: lines.join("\n") };
};
const caOf = async (host: string) => (await edge.admin(["ssh-ca", host])).trim();
/** `SHA256:…`, as sshd and ssh-keygen name a key. */
const fingerprint = async (publicKey: string) => expectExit(await run(["ssh-keygen", "-l", "-f", "/dev/stdin"], { stdin: publicKey })).stdout.split(" ")[1]!;

beforeAll(async () => {
  await ensureUnixUser("deploy");
  dir = await tempDir("wicket-ssh-ca-");
  home = dir.join("home");
  edge = await startEdge({ dir });
  await edge.admin(["zone", "add", "site.test"]);
  for (const app of [A, B]) await edge.admin(["app", "add", app]);
  const t = JSON.parse(await edge.admin(["token", "create", "deployer", "--principal", "deploy", "--json"]));
  deploy = { id: t.id, secret: t.secret, name: "deployer" };
  await edge.admin(["token", "create", "other", "--principal", "deploy"]);
  await edge.admin(["policy", "add", A, "--name", "ci", "--action", "allow", "--include", "token:deployer"]);
  await edge.admin(["policy", "add", B, "--name", "ops", "--action", "allow", "--include", "token:other"]);
  // each server trusts its own application's CA, as the README's set-up says
  sshdA = await startSshd({ trustedUserCAKeys: await caOf(A), authorizeClientKey: false });
  sshdB = await startSshd({ trustedUserCAKeys: await caOf(B), authorizeClientKey: false });
});

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  for (const s of [sshdA, sshdB]) await s?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("an SSH CA per application", () => {
  test("a certificate obtained at A opens A's server and is refused by B's, whose policy refuses the identity", async () => {
    expectExit(await wicket(["access", "ssh-gen", "--hostname", A, "--edge", edge.url, "--ca-file", edge.caFile], { env: env() }));
    const key = `${home}/${A}-key`;
    // straight to each sshd, not through the edge: what is under test is whom the server trusts
    const login = async (sshd: Sshd, host: string) => run(["ssh", ...(await sshd.client(host, { user: "deploy", identityFile: key, certificateFile: `${key}-cert.pub` })).args, host, "whoami"]);
    const atA = await login(sshdA, A);
    expect(atA.stdout).toBe("deploy\n");
    expect(atA.code).toBe(0);
    const atB = await login(sshdB, B);
    expect(atB.code).toBe(255);
    expect(atB.stderr).toContain("Permission denied");
    // B's sshd saw the certificate and refused it: its CA (A's) is not one B trusts
    const refused = sshdB.proc.stderr().split("\n").find((l) => l.startsWith("Failed publickey for deploy") && l.includes("ED25519-CERT"));
    expect(refused).toContain(`CA ED25519 ${await fingerprint(await caOf(A))}`);
  });

  test("each application has its own key; https://<app>/ssh-ca.pub is what `wicket edge ssh-ca <app>` prints", async () => {
    const [a, b] = [await caOf(A), await caOf(B)];
    expect(parseEd25519PublicLine(a)).toBeDefined();
    expect(parseEd25519PublicLine(b)).toBeDefined();
    expect(a.split(" ")[1]).not.toBe(b.split(" ")[1]);
    for (const [host, printed] of [[A, a], [B, b]] as const) {
      const r = await fetchOn(host, "/ssh-ca.pub");
      expect(r.status).toBe(200);
      expect(r.body.trim()).toBe(printed);
    }
  });

  test("a host served by a *.zone application has the wildcard application's CA", async () => {
    await edge.admin(["zone", "add", "wild.test"]);
    await edge.admin(["app", "add", "*.wild.test"]);
    const wildcard = await caOf("*.wild.test");
    expect(await caOf("x.wild.test")).toBe(wildcard);
    expect((await fetchOn("y.wild.test", "/ssh-ca.pub")).body.trim()).toBe(wildcard);
    expect(JSON.parse(await edge.admin(["ssh-ca", "x.wild.test", "--json"]))).toMatchObject({ app: "*.wild.test", publicKey: wildcard });
  });

  test("a hostname that is no application has no CA: 404 with a sentence, and `edge ssh-ca` says so", async () => {
    const r = await fetchOn("nothing.site.test", "/ssh-ca.pub");
    expect(r.status).toBe(404);
    expect(r.body).toContain("nothing.site.test is no application of this edge");
    const cli = await wicket(["edge", "ssh-ca", "nothing.site.test", "--data-dir", edge.dataDir]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain(`there is no application "nothing.site.test"`);
  });

  test("the edge's own host no longer serves an edge-wide key, and says where the keys are", async () => {
    const r = await run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert", edge.caFile, `${edge.url}/ssh-ca.pub`]);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("410");
    expect(r.stdout).toContain("Each application has its own SSH CA");
  });

  test("removing an application removes its CA: added again, it has a new one", async () => {
    await edge.admin(["app", "add", "gone.site.test"]);
    const before = await caOf("gone.site.test");
    await edge.admin(["app", "rm", "gone.site.test"]);
    expect((await fetchOn("gone.site.test", "/ssh-ca.pub")).status).toBe(404);
    await edge.admin(["app", "add", "gone.site.test"]);
    expect(await caOf("gone.site.test")).not.toBe(before);
  });

  test("upgraded from one edge-wide CA: that key signs nothing and is listed as retired", async () => {
    // the row an edge of the previous version made on first use
    const old = publicLine(generateEd25519().raw, "wicket-ca");
    await using store = await openStore({ dataDir: edge.dataDir });
    await store.sql`INSERT INTO ssh_ca (id, private_key, public_key, created_at) VALUES ('ca', 'unused', ${old}, ${Date.now()})`;
    const info = JSON.parse(await edge.admin(["ssh-ca", A, "--json"]));
    expect(info).toEqual({ app: A, publicKey: await caOf(A), retiredEdgeKey: old });
    await rm(`${home}/${A}-key-cert.pub`); // a new certificate, not the one kept from before
    expectExit(await wicket(["access", "ssh-gen", "--hostname", A, "--edge", edge.url, "--ca-file", edge.caFile], { env: env() }));
    const l = expectExit(await run(["ssh-keygen", "-L", "-f", `${home}/${A}-key-cert.pub`])).stdout;
    expect(l).toContain(`Signing CA: ED25519 ${await fingerprint(info.publicKey)}`);
    expect(l).not.toContain(await fingerprint(old));
  });

  test("the default certificate permits a terminal and port forwarding, not agent forwarding, X11 or ~/.ssh/rc", async () => {
    expectExit(await wicket(["access", "ssh-gen", "--hostname", A, "--edge", edge.url, "--ca-file", edge.caFile], { env: env() }));
    const l = expectExit(await run(["ssh-keygen", "-L", "-f", `${home}/${A}-key-cert.pub`])).stdout;
    const extensions = l.slice(l.indexOf("Extensions:")).split("\n").slice(1).map((x) => x.trim()).filter(Boolean);
    expect(extensions).toEqual(["permit-port-forwarding", "permit-pty"]);
    // signed by A's CA: its fingerprint is the one ssh-keygen shows
    expect(l).toContain(`Signing CA: ED25519 ${await fingerprint(await caOf(A))}`);
  });

  test("--ssh-extensions agent,x11 adds permit-agent-forwarding and permit-X11-forwarding; none goes back to the defaults", async () => {
    const key = `${home}/${A}-key`;
    const extensionsOfNewCert = async () => {
      await rm(`${key}-cert.pub`, { force: true }); // a new certificate, not the one kept from before
      expectExit(await wicket(["access", "ssh-gen", "--hostname", A, "--edge", edge.url, "--ca-file", edge.caFile], { env: env() }));
      const l = expectExit(await run(["ssh-keygen", "-L", "-f", `${key}-cert.pub`])).stdout;
      return l.slice(l.indexOf("Extensions:")).split("\n").slice(1).map((x) => x.trim()).filter(Boolean);
    };
    expect(await edge.admin(["app", "edit", A, "--ssh-extensions", "agent,x11"])).toBe(`${A}: sign-ins last 24h (the default); SSH principal: localpart; SSH extensions: agent,x11\n`);
    expect(await edge.admin(["app", "list"])).toMatch(new RegExp(`${A.replaceAll(".", "\\.")}\\s+site\\.test\\s+24h \\(default\\)\\s+localpart, extensions agent,x11\\s`));
    try {
      expect(await extensionsOfNewCert()).toEqual(["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty"]);
      // and sshd takes it (the extensions in the order PROTOCOL.certkeys asks)
      const login = await run(["ssh", ...(await sshdA.client(A, { user: "deploy", identityFile: key, certificateFile: `${key}-cert.pub` })).args, A, "whoami"]);
      expect([login.code, login.stdout]).toEqual([0, "deploy\n"]);
      const bad = await wicket(["edge", "app", "edit", A, "--ssh-extensions", "agent,root-shell", "--data-dir", edge.dataDir]);
      expect([bad.code, bad.stderr.trim()]).toEqual([64, 'error: "root-shell" is not an SSH certificate extension an application can allow; use agent, x11, user-rc or none']);
    } finally {
      expect(await edge.admin(["app", "edit", A, "--ssh-extensions", "none"])).toBe(`${A}: sign-ins last 24h (the default); SSH principal: localpart\n`);
    }
    const defaults = await extensionsOfNewCert();
    expect(defaults).toEqual(["permit-port-forwarding", "permit-pty"]);
    expect(defaults).not.toContain("permit-agent-forwarding");
    expect(defaults).not.toContain("permit-X11-forwarding");
  });
});

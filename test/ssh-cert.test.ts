// Short-lived certificates: the edge as SSH CA, `access ssh-gen`, and a real sshd that
// trusts the application's CA and has no authorized_keys at all.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile, stat, writeFile } from "node:fs/promises";
import { createPrivateKey } from "node:crypto";
import { expectExit, run } from "./helpers/proc.ts";
import { ensureUnixUser, startSshd, type Sshd } from "./helpers/sshd.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type ServiceToken, type TestEdge } from "./helpers/wicket.ts";
import { parseEd25519PublicLine, signUserCert } from "../lib/ssh/format.ts";

const HOST = "ssh.site.test";
const USERS = ["deploy", "alice", "bob"];
let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let deploy: ServiceToken;
let home: string;


/** A config for `ssh` with the printed stanza, the pinned host key, and nothing else. */
async function stanzaConfig(stanza: string): Promise<string> {
  const file = dir.join(`ssh_config_${crypto.randomUUID().slice(0, 6)}`);
  await writeFile(file, `${stanza}\nHost *\n\tBatchMode yes\n\tStrictHostKeyChecking yes\n\tUserKnownHostsFile ${dir.join("known_hosts")}\n\tIdentityAgent none\n`);
  return file;
}

const env = (token?: ServiceToken) => ({
  WICKET_HOME: home,
  WICKET_SERVICE_TOKEN_ID: token?.id,
  WICKET_SERVICE_TOKEN_SECRET: token?.secret,
});

beforeAll(async () => {
  for (const u of USERS) await ensureUnixUser(u);
  dir = await tempDir("wicket-cert-");
  home = dir.join("home");
  edge = await startEdge({ dir });
  await edge.admin(["zone", "add", "site.test"]);
  await edge.admin(["app", "add", HOST]);
  const ca = (await edge.admin(["ssh-ca", HOST])).trim();
  sshd = await startSshd({ trustedUserCAKeys: ca, authorizeClientKey: false });
  const t = JSON.parse(await edge.admin(["token", "create", "deployer", "--principal", "deploy", "--json"]));
  deploy = { id: t.id, secret: t.secret, name: "deployer" };
  await edge.admin(["policy", "add", HOST, "--name", "ci", "--action", "allow", "--include", "token:deployer"]);
  await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
  await writeFile(dir.join("known_hosts"), sshd.knownHostsLine(HOST) + "\n");
});

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("short-lived certificates", () => {
  test("the application's CA key is served on its hostname and printed by `edge ssh-ca <hostname>`", async () => {
    const printed = (await edge.admin(["ssh-ca", HOST])).trim();
    const r = await run(["curl", "-sSf", "--cacert", edge.caFile, "--resolve", `${HOST}:${edge.port}:127.0.0.1`, `https://${HOST}:${edge.port}/ssh-ca.pub`]);
    expect(r.stdout.trim()).toBe(printed);
    expect(parseEd25519PublicLine(printed)).toBeDefined();
  });

  test("ssh-gen writes a 0600 key and certificate that ssh-keygen reads: principal, minutes of validity, key id", async () => {
    const r = await wicket(["access", "ssh-gen", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env: env(deploy) });
    expectExit(r);
    expect(r.stdout).toBe("");
    const key = `${home}/${HOST}-key`;
    for (const f of [key, `${key}-cert.pub`]) expect((await stat(f)).mode & 0o777).toBe(0o600);
    const l = expectExit(await run(["ssh-keygen", "-L", "-f", `${key}-cert.pub`])).stdout;
    expect(l).toContain("user certificate");
    expect(l).toMatch(/Principals: \n\s+deploy\n/);
    expect(l).toContain(`Key ID: "token:deployer grant_`);
    const [, from, to] = /Valid: from (\S+) to (\S+)/.exec(l)!;
    const minutes = (Date.parse(to!) - Date.parse(from!)) / 60_000;
    expect(minutes).toBeGreaterThan(1);
    expect(minutes).toBeLessThanOrEqual(10);
    // the key is a real OpenSSH private key whose public half the certificate certifies
    const pub = expectExit(await run(["ssh-keygen", "-y", "-f", key])).stdout.split(" ")[1];
    expect(expectExit(await run(["ssh-keygen", "-l", "-f", `${key}-cert.pub`])).stdout).toContain(expectExit(await run(["ssh-keygen", "-l", "-f", "/dev/stdin"], { stdin: `ssh-ed25519 ${pub}` })).stdout.split(" ")[1]!);
  });

  test("with the printed stanza, the token's principal gets in, and only as that user", async () => {
    const stanza = expectExit(await wicket(["access", "ssh-config", "--hostname", HOST, "--short-lived-cert", "--edge", edge.url, "--ca-file", edge.caFile], { env: env() })).stdout;
    expect(stanza).toStartWith(`Match host ${HOST} exec "`);
    expect(stanza).toContain(`CertificateFile ${home}/${HOST}-key-cert.pub`);
    const config = await stanzaConfig(stanza);
    const as = (user: string) => run(["ssh", "-F", config, `${user}@${HOST}`, "whoami"], { env: env(deploy) });
    const ok = await as("deploy");
    expect(ok.stdout).toBe("deploy\n");
    expect(ok.code).toBe(0);
    for (const user of ["root", "alice", "bob"]) {
      const r = await as(user);
      expect(r.code).toBe(255);
      expect(r.stderr).toContain("Permission denied");
    }
  });

  test("an expired certificate is refused, and ssh-gen replaces it", async () => {
    const key = `${home}/${HOST}-key`;
    // Sign an already-expired certificate for the current key with the application's CA, read
    // from the edge's store: the edge never issues one, which is the point.
    const db = new Database(`${edge.dataDir}/wicket.db`, { readonly: true });
    const { private_key } = db.query("SELECT private_key FROM ssh_app_cas WHERE app = ?").get(HOST) as { private_key: string };
    db.close();
    const pub = parseEd25519PublicLine(expectExit(await run(["ssh-keygen", "-y", "-f", key])).stdout)!;
    const hourAgo = Date.now() - 3_600_000;
    await writeFile(`${key}-cert.pub`, signUserCert({ ca: createPrivateKey(private_key), publicKey: pub, keyId: "expired", principals: ["deploy"], validAfter: new Date(hourAgo - 600_000), validBefore: new Date(hourAgo) }) + "\n", { mode: 0o600 });

    const direct = await sshd.client(HOST, { proxyCommand: edge.proxyCommand(deploy), identityFile: key, certificateFile: `${key}-cert.pub` });
    const refused = await run(["ssh", ...direct.args, `deploy@${HOST}`, "true"]);
    expect(refused.code).toBe(255);
    expect(sshd.proc.stderr()).toMatch(/expired|Certificate invalid/i);

    expectExit(await wicket(["access", "ssh-gen", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env: env(deploy) }));
    expect(expectExit(await run(["ssh-keygen", "-L", "-f", `${key}-cert.pub`])).stdout).not.toContain(`Key ID: "expired"`);
    const r = await run(["ssh", ...direct.args, `deploy@${HOST}`, "echo renewed"]);
    expect(r.stdout).toBe("renewed\n");
  });

  test("a certificate with more than a minute left is reused", async () => {
    const cert = `${home}/${HOST}-key-cert.pub`;
    expectExit(await wicket(["access", "ssh-gen", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env: env(deploy) }));
    const before = await readFile(cert, "utf8");
    const r = expectExit(await wicket(["access", "ssh-gen", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile, "--loglevel", "debug"], { env: env(deploy) }));
    expect(r.stderr).toContain("reusing");
    expect(await readFile(cert, "utf8")).toBe(before);
  });
});

describe("the signing endpoint refuses", () => {
  const sign = (headers: Record<string, string>, body: string) =>
    run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert", edge.caFile, "--resolve", `${HOST}:${edge.port}:127.0.0.1`, "-X", "POST", "-H", "content-type: application/json", ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]), "--data-binary", body, `https://${HOST}:${edge.port}/.well-known/wicket/ssh-cert`]);
  const KEY = JSON.stringify({ public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPiIz9QUC3eugNgnMuyuGM7rRB+vBHJKlzinTgBxNf15" });
  const creds = () => ({ "wicket-access-client-id": deploy.id, "wicket-access-client-secret": deploy.secret });
  const status = (r: { stdout: string }) => Number(r.stdout.trim().split("\n").at(-1));

  test("no credentials (401), a wrong secret (401)", async () => {
    expect(status(await sign({}, KEY))).toBe(401);
    expect(status(await sign({ ...creds(), "wicket-access-client-secret": "nope" }, KEY))).toBe(401);
  });

  test("a token no policy of this application allows (403), and one without a principal (403)", async () => {
    const other = JSON.parse(await edge.admin(["token", "create", "outsider", "--principal", "deploy", "--json"]));
    expect(status(await sign({ "wicket-access-client-id": other.id, "wicket-access-client-secret": other.secret }, KEY))).toBe(403);
    const noPrincipal = JSON.parse(await edge.admin(["token", "create", "noprincipal", "--json"]));
    await edge.admin(["policy", "add", HOST, "--name", "np", "--action", "allow", "--include", "token:noprincipal"]);
    const r = await sign({ "wicket-access-client-id": noPrincipal.id, "wicket-access-client-secret": noPrincipal.secret }, KEY);
    expect(status(r)).toBe(403);
    expect(r.stdout).toContain("has no SSH principal");
  });

  test("a public key that is not a valid SSH key (400)", async () => {
    for (const bad of ["not json", JSON.stringify({}), JSON.stringify({ public_key: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" }), JSON.stringify({ public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==" })]) {
      expect(status(await sign(creds(), bad))).toBe(400);
    }
    expect(status(await sign(creds(), KEY))).toBe(200);
  });
});

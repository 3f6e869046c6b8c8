// Workload identity end to end: the compiled edge trusts a real OpenID issuer on loopback
// (test/helpers/workload-issuer.ts), a connector serves a real sshd, and plain `ssh` with
// wicket as its ProxyCommand gets in as a GitHub Actions job with no credential flags: the
// client asks the Actions token endpoint (a stand-in, said so in the helper) for an ID token
// with the edge as audience and exchanges it. The wrong branch, another repository, a replayed
// token, an expired one and one for another audience are each refused with exit 77 and a
// reason; `ssh-gen` gets the principal the rule binds, and sshd takes the certificate.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { expectExit, run, spawnProc } from "./helpers/proc.ts";
import { ensureUnixUser, startSshd, type Sshd } from "./helpers/sshd.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { freePort } from "./helpers/ports.ts";
import { startEdge, wicket, WICKET, type TestEdge } from "./helpers/wicket.ts";
import { githubClaims, startIssuer, type TestIssuer } from "./helpers/workload-issuer.ts";

const HOST = "ssh.site.test";
const RULE = "workload:github:repository=acme/deploy,ref=refs/heads/main;principal=deploy";
let dir: TempDir;
let issuer: TestIssuer;
let edge: TestEdge;
let sshd: Sshd;

beforeAll(async () => {
  await ensureUnixUser("deploy");
  dir = await tempDir("wicket-workload-");
  issuer = await startIssuer();
  const config = dir.join("edge.yaml");
  await writeFile(config, `workload-issuers:\n  - name: github\n    issuer: ${issuer.url}\n`);
  edge = await startEdge({ dir, extra: ["--config", config] });
  await edge.admin(["zone", "add", "site.test"]);
  await edge.admin(["app", "add", HOST]);
  const ca = (await edge.admin(["ssh-ca", HOST])).trim();
  sshd = await startSshd({ trustedUserCAKeys: ca });
  await edge.admin(["policy", "add", HOST, "--name", "deploy from main", "--action", "allow", "--include", RULE]);
  await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
});

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await issuer?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

/** A job's environment: its own WICKET_HOME, and GitHub Actions' two variables for `claims`. */
const actionsJob = (claims: Record<string, unknown>) => {
  const a = issuer.actions(claims);
  return { WICKET_HOME: dir.join(`home-${crypto.randomUUID().slice(0, 8)}`), ACTIONS_ID_TOKEN_REQUEST_URL: a.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: a.requestToken };
};
const withToken = (token: string, home = dir.join(`home-${crypto.randomUUID().slice(0, 8)}`)) => ({ WICKET_HOME: home, WICKET_OIDC_TOKEN: token });
/** `wicket access ssh` as ssh runs it, with nothing on stdin: the exit code and what it says. */
const accessSsh = (env: Record<string, string>) => wicket(["access", "ssh", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env, stdin: "" });
const MAIN = githubClaims("acme/deploy", "refs/heads/main");

describe("a GitHub Actions job", () => {
  test("reaches sshd with plain ssh as the right repository and branch, with no credential flags", async () => {
    const c = await sshd.client(HOST, { proxyCommand: edge.proxyCommand() });
    const r = await run(["ssh", ...c.args, HOST, "echo through-wicket"], { env: actionsJob(MAIN) });
    expect(r.stderr).not.toContain("sign in");
    expect(r.stdout).toBe("through-wicket\n");
    expect(r.code).toBe(0);
  });

  test("from another branch is refused at once with exit 77, naming the claim", async () => {
    const r = await accessSsh(actionsJob(githubClaims("acme/deploy", "refs/heads/dev")));
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`its ref is "refs/heads/dev", not refs/heads/main`);
    expect(r.stderr).not.toMatch(/open this page|device/);
  });

  test("from another repository (a fork's pull request) is refused with exit 77, naming the repository", async () => {
    const r = await accessSsh(actionsJob(githubClaims("mallory/deploy", "refs/pull/1/merge", { event_name: "pull_request" })));
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`its repository is "mallory/deploy", not acme/deploy`);
  });

  test("gets an SSH certificate for the principal the rule binds, which sshd accepts", async () => {
    const env = actionsJob(MAIN);
    expectExit(await wicket(["access", "ssh-gen", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env }));
    const key = `${env.WICKET_HOME}/${HOST}-key`;
    const l = expectExit(await run(["ssh-keygen", "-L", "-f", `${key}-cert.pub`])).stdout;
    expect(l).toMatch(/Principals: \n\s+deploy\n/);
    expect(l).toContain(`Key ID: "workload:github:repo:acme/deploy:ref:refs/heads/main grant_`);
    const c = await sshd.client(HOST, { proxyCommand: edge.proxyCommand(), user: "deploy", identityFile: key, certificateFile: `${key}-cert.pub` });
    const r = await run(["ssh", ...c.args, HOST, "whoami"], { env });
    expect(r.stdout).toBe("deploy\n");
    expect(r.code).toBe(0);
  });

  test("gets no certificate from a claim the job controls: not by the application's claim setting, only where the rule names the claim", async () => {
    const ssh = (ref: string) => actionsJob(githubClaims("acme/deploy", ref, { actor: "deploy" }));
    const sshGen = (env: Record<string, string>) => wicket(["access", "ssh-gen", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env });
    await edge.admin(["app", "edit", HOST, "--ssh-principal", "claim:actor"]);
    const unbound = JSON.parse(await edge.admin(["policy", "add", HOST, "--name", "unbound", "--action", "allow", "--include", "workload:github:repository=acme/deploy,ref=refs/heads/unbound", "--json"]));
    const byClaim = JSON.parse(await edge.admin(["policy", "add", HOST, "--name", "by-claim", "--action", "allow", "--include", "workload:github:repository=acme/deploy,ref=refs/heads/by-claim;principal=claim:actor", "--json"]));
    try {
      const r = await sshGen(ssh("refs/heads/unbound"));
      expect(r.code).toBe(77);
      expect(r.stderr).toContain(`names no principal; add ";principal=<unix-user>" to the workload rule`);
      const env = ssh("refs/heads/by-claim");
      expectExit(await sshGen(env));
      expect(expectExit(await run(["ssh-keygen", "-L", "-f", `${env.WICKET_HOME}/${HOST}-key-cert.pub`])).stdout).toMatch(/Principals: \n\s+deploy\n/);
      // a claim the rule trusts still names no system account
      const root = await sshGen(actionsJob(githubClaims("acme/deploy", "refs/heads/by-claim", { actor: "root" })));
      expect(root.code).toBe(77);
      expect(root.stderr).toContain(`"root" is a system account`);
    } finally {
      await edge.admin(["app", "edit", HOST, "--ssh-principal", "localpart"]);
      for (const p of [unbound, byClaim]) await edge.admin(["policy", "rm", p.id]);
    }
  });

  test("carries `access tcp` connections too: the server's SSH banner arrives through a local port", async () => {
    const port = freePort();
    await using tcp = spawnProc([WICKET, "access", "tcp", "--hostname", HOST, "--url", `127.0.0.1:${port}`, "--edge", edge.url, "--ca-file", edge.caFile], { env: actionsJob(MAIN), name: "access tcp" });
    await tcp.waitForLine(new RegExp(`listening on 127\\.0\\.0\\.1:${port} `), { stream: "stderr" });
    const banner = await new Promise<string>((resolve, reject) => {
      Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (s, d) => void (resolve(d.toString()), s.end()), error: (_s, e) => reject(e), close: () => reject(new Error(`closed: ${tcp.stderr()}`)) } }).catch(reject);
    });
    expect(banner).toStartWith("SSH-2.0-");
  });

  test("the audit names the issuer and the matched claims, and no ID token is logged", async () => {
    const token = await issuer.sign(MAIN, { audience: edge.url });
    expectExit(await wicket(["access", "token", HOST, "--edge", edge.url, "--ca-file", edge.caFile], { env: withToken(token) }));
    const audit = await edge.admin(["audit", "--json"]);
    expect(audit).toContain("workload:github:repo:acme/deploy:ref:refs/heads/main");
    expect(audit).toContain(`repository=\\"acme/deploy\\", ref=\\"refs/heads/main\\"`);
    const signature = token.split(".")[2]!;
    expect(audit).not.toContain(signature);
    expect(edge.proc.stderr()).not.toContain(signature);
  });
});

describe("a workload's live session", () => {
  test("is listed by its workload name, and cut when the rule that let it in goes", async () => {
    const added = JSON.parse(await edge.admin(["policy", "add", HOST, "--name", "live", "--action", "allow", "--include", "workload:github:repository=acme/deploy,ref=refs/heads/live", "--json"]));
    const c = await sshd.client(HOST, { proxyCommand: edge.proxyCommand() });
    await using ssh = spawnProc(["ssh", ...c.args, HOST, "echo ready; exec sleep 300"], { env: actionsJob(githubClaims("acme/deploy", "refs/heads/live")), name: "ssh" });
    await ssh.waitForLine(/^ready$/, { stream: "stdout", timeoutMs: 15_000 });
    expect(await edge.admin(["session", "list"])).toContain("workload:github:repo:acme/deploy:ref:refs/heads/live");
    await edge.admin(["policy", "rm", added.id]);
    expect(await ssh.exited).toBe(255);
    expect(ssh.stderr()).toContain("policy change");
  });
});

describe("an ID token from a file or WICKET_OIDC_TOKEN", () => {
  test("is exchanged once; the same job reuses its app token, another process with the token is refused as a replay", async () => {
    const token = await issuer.sign(MAIN, { audience: edge.url });
    const home = dir.join("home-gitlab");
    const file = dir.join("id-token");
    await writeFile(file, token + "\n");
    const args = ["access", "token", HOST, "--edge", edge.url, "--ca-file", edge.caFile];
    const first = expectExit(await wicket([...args, "--oidc-token-file", file], { env: { WICKET_HOME: home } }));
    const again = expectExit(await wicket(args, { env: withToken(token, home) }));
    expect(again.stdout).toBe(first.stdout);
    const replay = await wicket(args, { env: withToken(token) });
    expect(replay.code).toBe(77);
    expect(replay.stderr).toContain("it was already exchanged once");
  });

  test("an expired token is refused with exit 77", async () => {
    const r = await accessSsh(withToken(await issuer.sign(MAIN, { audience: edge.url, expiresIn: -600 })));
    expect(r.code).toBe(77);
    expect(r.stderr).toContain("the ID token was refused: it has expired");
  });

  test("a token for another audience is refused with exit 77", async () => {
    const r = await accessSsh(withToken(await issuer.sign(MAIN, { audience: "https://github.com/acme" })));
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`it is for another audience, not ${edge.url}`);
  });

  test("`edge policy test --workload-claims` gives the same decision without a token", async () => {
    const claims = dir.join("claims.json");
    await writeFile(claims, JSON.stringify(githubClaims("acme/deploy", "refs/heads/dev")));
    const r = await wicket(["edge", "policy", "test", HOST, "--workload-claims", claims, "--data-dir", edge.dataDir]);
    expect(r.code).toBe(77);
    expect(r.stdout).toContain(`its ref is "refs/heads/dev", not refs/heads/main`);
    await writeFile(claims, JSON.stringify(MAIN));
    const ok = expectExit(await wicket(["edge", "policy", "test", HOST, "--workload-claims", claims, "--data-dir", edge.dataDir]));
    expect(ok.stdout).toContain(`rule:        include ${RULE}`);
  });
});

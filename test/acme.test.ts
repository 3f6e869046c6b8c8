// `edge serve --tls acme` against a real ACME server: Debian's Pebble, with pebble-challtestsrv
// as the DNS it resolves names with (every name is 127.0.0.1 there, and TXT records are set
// through its HTTP API, which the DNS hook below calls). Pebble issues short-lived certificates
// so that renewal happens within the test. What is shown: certificates for the edge's host and
// two applications over TLS-ALPN-01 on the edge's own port (and ssh, curl and a client's
// address through its front), for three over HTTP-01, a wildcard over DNS-01, ssh through the
// tunnel and curl with Pebble's root as the only added trust, renewal without a dropped
// session, Pebble down at renewal (a warning, the old certificate still served), and two nodes
// on PostgreSQL ordering each name once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { challengeFor, dueAt, LETS_ENCRYPT_STAGING, renewAt, retryDelay } from "../lib/edge/http/acme.ts";
import { resolveServeSettings } from "../lib/edge/config/settings.ts";
import { issueCert, newCA } from "../lib/tls/ca.ts";
import { freePort, listening } from "./helpers/ports.ts";
import { expectExit, run, spawnProc, type Proc } from "./helpers/proc.ts";
import { shellQuote, startSshd, type Sshd } from "./helpers/sshd.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { WICKET, wicket } from "./helpers/wicket.ts";

const HAVE_PEBBLE = Bun.which("pebble") !== null && Bun.which("pebble-challtestsrv") !== null;
const EDGE_HOST = "localhost"; // resolves to 127.0.0.1 for the clients without a DNS of our own

interface Pebble {
  directory: string;
  /** The CA of Pebble's own HTTPS (for --acme-ca-file). */
  tlsCaFile: string;
  /** Pebble's root: what clients add with --ca-file. */
  rootFile: string;
  /** Where Pebble asks for HTTP-01 answers (the edge's --acme-http-listen). */
  httpPort: number;
  /** Where Pebble asks for TLS-ALPN-01 answers (the --listen of an edge that answers them). */
  tlsPort: number;
  /** A DNS-01 hook that sets TXT records in challtestsrv. */
  hook: string;
  proc: Proc;
  stop(): Promise<void>;
}

async function startPebble(dir: TempDir, validitySeconds: number): Promise<Pebble> {
  const ca = await newCA();
  const served = await issueCert(ca, ["localhost", "127.0.0.1"]);
  const [tlsCaFile, certFile, keyFile, config, rootFile, hook] = ["pebble-ca.pem", "pebble-cert.pem", "pebble-key.pem", "pebble.json", "pebble-root.pem", "dns-hook.sh"].map((f) => dir.join(f)) as [string, string, string, string, string, string];
  writeFileSync(tlsCaFile, ca.certPem);
  writeFileSync(certFile, served.cert);
  writeFileSync(keyFile, served.key);
  const [acmePort, mgmtPort, httpPort, tlsPort, dnsPort, ctsPort] = [freePort(), freePort(), freePort(), freePort(), freePort(), freePort()];
  const pebble = { listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`, certificate: certFile, privateKey: keyFile, httpPort, tlsPort, ocspResponderURL: "", externalAccountBindingRequired: false, certificateValidityPeriod: validitySeconds };
  writeFileSync(config, JSON.stringify({ pebble }));
  // lego's exec protocol: present|cleanup, the record's name, its value
  writeFileSync(
    hook,
    `#!/bin/sh\ncase "$1" in present) path=set-txt ;; cleanup) path=clear-txt ;; *) echo "unknown action $1" >&2; exit 2 ;; esac\n` +
      `echo "$1 $2" >> ${shellQuote(dir.join("dns-hook.log"))}\n` +
      `exec curl -fsS -X POST -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" http://127.0.0.1:${ctsPort}/$path\n`,
  );
  chmodSync(hook, 0o755);
  const cts = spawnProc(["pebble-challtestsrv", "-management", `127.0.0.1:${ctsPort}`, "-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""], { name: "challtestsrv" });
  await cts.waitForLine(/Starting management server/, { timeoutMs: 10_000 });
  await listening(ctsPort); // the line comes before the listener binds
  const proc = spawnProc(["pebble", "-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`], { name: "pebble", env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_VA_ALWAYS_VALID: "0", PEBBLE_WFE_NONCEREJECT: "0" } });
  await proc.waitForLine(/ACME directory available/, { timeoutMs: 10_000 });
  // pebble logs its addresses before its listeners accept: wait for both ports
  await Promise.all([listening(acmePort), listening(mgmtPort)]);
  const root = await fetch(`https://127.0.0.1:${mgmtPort}/roots/0`, { tls: { ca: ca.certPem } });
  expect(root.status).toBe(200);
  writeFileSync(rootFile, await root.text());
  return {
    directory: `https://127.0.0.1:${acmePort}/dir`,
    tlsCaFile,
    rootFile,
    httpPort,
    tlsPort,
    hook,
    proc,
    async stop() {
      expect(await proc.stop()).toBeOneOf([0, 130, 143]);
      await cts.stop();
    },
  };
}

interface AcmeEdge {
  proc: Proc;
  port: number;
  url: string;
  dataDir: string;
  admin(args: string[]): Promise<string>;
  stop(): Promise<number>;
}

/** `alpn`: answer TLS-ALPN-01 on the edge's own port (Pebble's tlsPort) instead of HTTP-01. */
async function startAcmeEdge(dir: TempDir, pebble: Pebble, extra: string[] = [], name = "edge", alpn = false): Promise<AcmeEdge> {
  const port = alpn ? pebble.tlsPort : freePort();
  const dataDir = dir.join(name);
  const url = `https://${EDGE_HOST}:${port}`;
  const args = ["edge", "serve", "--listen", `127.0.0.1:${port}`, "--public-url", url, "--data-dir", dataDir, "--tls", "acme", "--acme-email", "ops@wicket.test"];
  args.push("--acme-directory", pebble.directory, "--acme-ca-file", pebble.tlsCaFile, "--acme-dns-hook", pebble.hook, ...extra);
  args.push(...(alpn ? ["--acme-challenge", "tls-alpn-01"] : ["--acme-http-listen", `127.0.0.1:${pebble.httpPort}`]));
  const proc = spawnProc([WICKET, ...args], { name });
  await proc.waitForLine(/edge listening on/, { stream: "stderr", timeoutMs: 15_000 });
  const admin = async (a: string[]) => expectExit(await wicket(["edge", ...a, "--data-dir", dataDir, "--ca-file", pebble.rootFile])).stdout;
  return { proc, port, url, dataDir, admin, stop: () => proc.stop() };
}

/** The certificate the edge serves for `servername`, verified against `ca` alone. */
function servedCert(port: number, servername: string, ca: string): Promise<PeerCertificate & { authorized: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername, ca, rejectUnauthorized: false }, () => {
      const cert = s.getPeerCertificate();
      resolve(Object.assign(cert, { authorized: s.authorized, error: s.authorizationError?.toString() }));
      s.end();
    });
    s.on("error", reject);
  });
}

/** How many times the edges' logs say `name` was issued. */
const countIssued = (procs: Proc[], name: string) => procs.flatMap((p) => p.stderr().split("\n")).filter((l) => l.includes(`acme: certificate for ${name} issued by`)).length;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Until the edges have issued `name` at least `times` times in all, and every one of them
 * serves the result: its listener takes the store's certificates again and says so. */
async function issued(procs: Proc | Proc[], name: string, times = 1, timeoutMs = 30_000) {
  const all = Array.isArray(procs) ? procs : [procs];
  const wait = (p: Proc, re: RegExp) => p.waitForLine(re, { stream: "stderr", timeoutMs });
  // one edge: each issuance in turn (with several, whichever orders it is not known beforehand)
  if (all.length === 1) while (countIssued(all, name) < times) await wait(all[0]!, new RegExp(`acme: certificate for ${escape(name)} issued by`));
  const serving = new RegExp(`serving the store's ACME certificates now: .*${escape(name)}`);
  // served since its latest issuance here (a line another wait may have read already counts)
  const served = (p: Proc) => {
    const lines = p.stderr().split("\n");
    return lines.slice(Math.max(0, lines.findLastIndex((l) => l.includes(`acme: certificate for ${name} issued by`)))).some((l) => serving.test(l));
  };
  await Promise.all(all.map((p) => (served(p) ? undefined : wait(p, serving))));
  if (countIssued(all, name) < times) throw new Error(`${name} was served but not issued ${times} time(s):\n${all.map((p) => p.output()).join("\n")}`);
}

describe("when to order", () => {
  test("renewal is due at two thirds of the lifetime, a failure backs off and never past expiry", () => {
    expect(renewAt({ notBefore: 0, notAfter: 90 })).toBe(60);
    expect(dueAt({ name: "a", failures: 0 }, 5)).toBe(5); // never issued: now
    expect(dueAt({ name: "a", failures: 0, certPem: "x", keyPem: "y", notBefore: 0, notAfter: 900 }, 5)).toBe(600);
    expect(dueAt({ name: "a", failures: 2, retryAt: 77, certPem: "x", keyPem: "y", notBefore: 0, notAfter: 900 }, 5)).toBe(77);
    expect(retryDelay(1, undefined)).toBe(30_000);
    expect(retryDelay(3, undefined)).toBe(120_000);
    expect(retryDelay(30, undefined)).toBe(6 * 3_600_000);
    expect(retryDelay(5, 40_000, 0)).toBe(10_000); // a quarter of what is left
  });

  test("a wildcard needs the DNS hook, and the error says so", () => {
    expect(() => challengeFor("*.site.test", { challenge: "http-01" })).toThrow(/\*\.site\.test is a wildcard, which ACME CAs prove only by DNS-01: give the edge --acme-dns-hook/);
    expect(challengeFor("*.site.test", { challenge: "tls-alpn-01", dnsHook: "/bin/hook" })).toBe("dns-01");
    expect(challengeFor("ssh.site.test", { challenge: "http-01", dnsHook: "/bin/hook" })).toBe("http-01");
    expect(challengeFor("ssh.site.test", { challenge: "tls-alpn-01", dnsHook: "/bin/hook" })).toBe("tls-alpn-01");
  });

  test("edge.yaml's acme keys are the flags'; staging names Let's Encrypt's staging directory", async () => {
    await using dir = await tempDir();
    const file = dir.join("edge.yaml");
    writeFileSync(file, `public-url: https://edge.site.test\ntls: acme\nacme-email: ops@site.test\nacme-directory: staging\nacme-http-listen: ":80"\nacme-dns-hook: /etc/wicket/hook\n`);
    expect(resolveServeSettings({ config: file }, [], {}).edge.tls).toEqual({
      mode: "acme",
      acme: { email: "ops@site.test", challenge: "http-01", directory: LETS_ENCRYPT_STAGING, httpListen: "0.0.0.0:80", dnsHook: "/etc/wicket/hook" },
    });
    // TLS-ALPN-01 on the edge's own port is the default without an HTTP-01 listener
    writeFileSync(file, `public-url: https://edge.site.test\ntls: acme\nacme-email: ops@site.test\n`);
    expect(resolveServeSettings({ config: file }, [], {}).edge.tls).toMatchObject({ acme: { challenge: "tls-alpn-01" } });
    // what a DNS hook alone meant before TLS-ALPN-01 (every name over DNS-01) it still means
    writeFileSync(file, `public-url: https://edge.site.test\ntls: acme\nacme-email: ops@site.test\nacme-dns-hook: /etc/wicket/hook\n`);
    expect(resolveServeSettings({ config: file }, [], {}).edge.tls).toMatchObject({ acme: { challenge: "dns-01" } });
    expect(resolveServeSettings({ config: file, "acme-challenge": "tls-alpn-01" }, ["--acme-challenge", "tls-alpn-01"], {}).edge.tls).toMatchObject({ acme: { challenge: "tls-alpn-01", dnsHook: "/etc/wicket/hook" } });
    const flags = resolveServeSettings({ config: file, "acme-directory": "https://ca.internal/dir" }, ["--acme-directory", "https://ca.internal/dir"], {}).edge.tls;
    expect(flags).toMatchObject({ acme: { directory: "https://ca.internal/dir" } });
  });

  test("--tls acme without an e-mail, a DNS name, or what its challenge needs is a usage error", async () => {
    const r1 = await wicket(["edge", "serve", "--tls", "acme", "--public-url", "https://edge.site.test"]);
    expect(r1.code).toBe(64);
    expect(r1.stderr).toContain("--tls acme needs --acme-email");
    const r2 = await wicket(["edge", "serve", "--tls", "acme", "--acme-email", "a@b.test", "--public-url", "https://127.0.0.1:8443"]);
    expect(r2.stderr).toContain("--tls acme needs --public-url with the edge's DNS name");
    const acme = ["edge", "serve", "--tls", "acme", "--acme-email", "a@b.test", "--public-url", "https://edge.site.test"];
    for (const [args, said] of [
      [["--acme-challenge", "http-01"], "--acme-challenge http-01 needs --acme-http-listen"],
      [["--acme-challenge", "dns-01"], "--acme-challenge dns-01 needs --acme-dns-hook"],
      [["--acme-challenge", "tls-sni-01"], '--acme-challenge "tls-sni-01" is not a challenge type; use tls-alpn-01, http-01 or dns-01'],
    ] as const) {
      const r = await wicket([...acme, ...args]);
      expect({ code: r.code, err: r.stderr.trim() }).toEqual({ code: 64, err: expect.stringContaining(said) });
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

describe.skipIf(!HAVE_PEBBLE)("an edge with certificates from Pebble", () => {
  let dir: TempDir;
  let pebble: Pebble;
  let edge: AcmeEdge;
  let sshd: Sshd;
  let root: string;
  let token: { id: string; secret: string };
  const tunnels: Proc[] = [];

  beforeAll(async () => {
    dir = await tempDir("wicket-acme-");
    pebble = await startPebble(dir, 45);
    root = readFileSync(pebble.rootFile, "utf8");
    sshd = await startSshd();
    // what `install.sh` installs: this machine's build and its SHA256SUMS
    const downloads = dir.join("downloads");
    const platform = `linux-${process.arch}`;
    mkdirSync(join(downloads, platform), { recursive: true });
    copyFileSync(WICKET, join(downloads, platform, "wicket"));
    writeFileSync(join(downloads, "SHA256SUMS"), expectExit(await run(["sha256sum", `${platform}/wicket`], { cwd: downloads })).stdout);
    edge = await startAcmeEdge(dir, pebble, ["--downloads-dir", downloads]);
    await issued(edge.proc, EDGE_HOST);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(tunnels.map((t) => t.stop()));
    await edge?.stop();
    await sshd?.stop();
    await pebble?.stop();
    await dir?.remove();
  });

  test("the edge's host and two applications get certificates over HTTP-01 (with --acme-http-listen), a wildcard over DNS-01 through the hook", async () => {
    await edge.admin(["zone", "add", "site.test"]);
    await edge.admin(["zone", "add", "wild.test"]);
    for (const app of ["ssh.site.test", "git.site.test", "*.wild.test"]) await edge.admin(["app", "add", app]);
    for (const app of ["ssh.site.test", "git.site.test", "*.wild.test"]) await issued(edge.proc, app);
    for (const [sni, name] of [[EDGE_HOST, EDGE_HOST], ["ssh.site.test", "ssh.site.test"], ["git.site.test", "git.site.test"], ["box.wild.test", "*.wild.test"]] as const) {
      const c = await servedCert(edge.port, sni, root);
      expect({ sni, authorized: c.authorized, error: c.error, san: c.subjectaltname }).toEqual({ sni, authorized: true, error: undefined, san: `DNS:${name}` });
      expect(c.issuer.CN).toStartWith("Pebble Intermediate CA");
    }
    expect(readFileSync(dir.join("dns-hook.log"), "utf8")).toContain("present _acme-challenge.wild.test.");
    // a stranger's SNI orders nothing: it gets the edge host's certificate
    const stranger = await servedCert(edge.port, "stranger.site.test", root);
    expect(stranger.subjectaltname).toBe(`DNS:${EDGE_HOST}`);
    expect(edge.proc.stderr()).not.toContain("stranger.site.test");

    const list = await edge.admin(["cert", "list"]);
    for (const name of [EDGE_HOST, "ssh.site.test", "git.site.test", "*.wild.test"]) expect(list).toMatch(new RegExp(`${name.replace(/[.*]/g, "\\$&")}\\s+Pebble Intermediate CA`));
    const json = JSON.parse(await edge.admin(["cert", "list", "--json"]));
    expect(json.every((c: Record<string, unknown>) => !("keyPem" in c) && !("certPem" in c))).toBe(true);
  }, 90_000);

  test("ssh through the tunnel and curl need only Pebble's root; the tunnel credential carries no CA", async () => {
    const out = JSON.parse(await edge.admin(["token", "create", "ci", "--json"]));
    token = { id: out.id, secret: out.secret };
    await edge.admin(["policy", "add", "ssh.site.test", "--name", "ci", "--action", "allow", "--include", "token:ci"]);
    const certFile = dir.join("cert.pem");
    await edge.admin(["tunnel-cert", "site.test", "--out", certFile]);
    expect(readFileSync(certFile, "utf8")).not.toContain("BEGIN CERTIFICATE");
    const t = spawnProc([WICKET, "tunnel", "--hostname", "ssh.site.test", "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", certFile, "--ca-file", pebble.rootFile], { name: "tunnel" });
    tunnels.push(t);
    await t.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });
    const proxy = [WICKET, "access", "ssh", "--hostname", "%h", "--edge", edge.url, "--ca-file", pebble.rootFile, "--id", token.id, "--secret", token.secret].map(shellQuote).join(" ");
    const r = await sshd.ssh(["echo", "hello-over-acme"], { host: "ssh.site.test", proxyCommand: proxy });
    expect({ code: r.code, out: r.stdout.trim(), err: r.code ? r.stderr : "" }).toEqual({ code: 0, out: "hello-over-acme", err: "" });
    const curl = await run(["curl", "-fsS", "--cacert", pebble.rootFile, "--resolve", `${EDGE_HOST}:${edge.port}:127.0.0.1`, `${edge.url}/healthz`]);
    expect({ code: curl.code, err: curl.stderr }).toEqual({ code: 0, err: "" });
    // curl | sh, with Pebble's root as the only trust added (a real CA's would be in the system's)
    const bin = dir.join("bin");
    const q = shellQuote;
    const install = await run(["/bin/sh", "-c", `curl -fsSL --cacert ${q(pebble.rootFile)} ${q(`${edge.url}/install.sh`)} | sh`], { env: { WICKET_CA_FILE: pebble.rootFile, WICKET_INSTALL_DIR: bin, WICKET_DOWNLOAD_URL: undefined }, timeoutMs: 60_000 });
    expect({ code: install.code, err: install.code ? install.stderr : "" }).toEqual({ code: 0, err: "" });
    expect(expectExit(await run([join(bin, "wicket"), "--version"])).stdout.trim()).toBe(expectExit(await wicket(["--version"])).stdout.trim());
  }, 60_000);

  test("a short lifetime renews the certificate without dropping a live session", async () => {
    const proxy = [WICKET, "access", "ssh", "--hostname", "%h", "--edge", edge.url, "--ca-file", pebble.rootFile, "--id", token.id, "--secret", token.secret].map(shellQuote).join(" ");
    const before = await servedCert(edge.port, "ssh.site.test", root);
    // a session that lives across the next renewal (at 30 s of a 45 s lifetime)
    const orders = countIssued([edge.proc], "ssh.site.test");
    const session = sshd.ssh(["sh", "-c", "'echo started; sleep 32; echo still-here'"], { host: "ssh.site.test", proxyCommand: proxy, timeoutMs: 60_000 });
    await issued(edge.proc, "ssh.site.test", orders + 1, 45_000);
    const after = await servedCert(edge.port, "ssh.site.test", root);
    expect(after.authorized).toBe(true);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    const r = await session;
    expect({ code: r.code, out: r.stdout.trim().split("\n"), err: r.code ? r.stderr : "" }).toEqual({ code: 0, out: ["started", "still-here"], err: "" });
  }, 90_000);

  test("with Pebble down at renewal the edge warns loudly and keeps serving the old certificate", async () => {
    const before = await servedCert(edge.port, "git.site.test", root);
    await pebble.stop();
    const [line] = await edge.proc.waitForLine(/acme: WARNING: the certificate for git\.site\.test expires at \S+ \(in \d+s\) and could not be renewed: .+; next attempt in \d+s/, { stream: "stderr", timeoutMs: 45_000 });
    expect(line).toContain("git.site.test");
    const now = await servedCert(edge.port, "git.site.test", root);
    expect({ serial: now.serialNumber, authorized: now.authorized }).toEqual({ serial: before.serialNumber, authorized: true });
    expect(await edge.admin(["cert", "list"])).toMatch(/git\.site\.test\s+Pebble Intermediate CA.*failed\)/);
  }, 60_000);
});

describe.skipIf(!HAVE_PEBBLE || !PG)("two edge nodes on PostgreSQL", () => {
  test("each name is ordered once, and both nodes serve it", async () => {
    await using dir = await tempDir("wicket-acme-pg-");
    await using db = await tempDatabase();
    const pebble = await startPebble(dir, 3600);
    const root = readFileSync(pebble.rootFile, "utf8");
    const a = await startAcmeEdge(dir, pebble, ["--database", db.url, "--loglevel", "debug"], "edge-a");
    mkdirSync(dir.join("edge-b"), { recursive: true, mode: 0o700 });
    copyFileSync(join(a.dataDir, "admin-token"), join(dir.join("edge-b"), "admin-token"));
    const b = await startAcmeEdge(dir, pebble, ["--database", db.url, "--loglevel", "debug"], "edge-b");
    // an order that fails (a busy CI machine) is tried again after 30 s, by design: each wait
    // allows for one retry, and a failure shows both nodes' logs
    const both = async (name: string) =>
      issued([a.proc, b.proc], name, 1, 75_000).catch((e: Error) => {
        throw new Error(`${e.message.split("\n")[0]}\n${a.proc.output()}\n${b.proc.output()}`);
      });
    try {
      await both(EDGE_HOST);
      await a.admin(["zone", "add", "pg.test"]);
      await a.admin(["app", "add", "one.pg.test"]);
      await b.admin(["app", "add", "two.pg.test"]);
      for (const name of ["one.pg.test", "two.pg.test"]) await both(name);
      // a second order would come from a node's check after it saw the certificates: wait for
      // a whole check on each node that began after it served them
      for (const node of [a, b]) await node.proc.waitForLine(/acme: every certificate checked against the store/, { stream: "stderr", timeoutMs: 30_000 });
      for (const name of [EDGE_HOST, "one.pg.test", "two.pg.test"]) {
        expect({ name, orders: countIssued([a.proc, b.proc], name) }).toEqual({ name, orders: 1 });
        for (const node of [a, b]) {
          const c = await servedCert(node.port, name, root);
          expect({ name, port: node.port, authorized: c.authorized }).toEqual({ name, port: node.port, authorized: true });
        }
      }
    } finally {
      await a.stop();
      await b.stop();
      await pebble.stop();
    }
  }, 240_000);
});

/** A TLS handshake to the edge offering only `acme-tls/1`, as an ACME CA validates: the protocol and certificate it got, or why not. */
function alpnHandshake(port: number, servername: string): Promise<{ alpn: string | false; san?: string; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, servername, ALPNProtocols: ["acme-tls/1"], rejectUnauthorized: false }, () => {
      resolve({ alpn: s.alpnProtocol ?? false, san: s.getPeerCertificate().subjectaltname });
      s.end();
    });
    s.on("error", (e) => resolve({ alpn: false, error: e.message }));
    s.on("close", () => resolve({ alpn: false, error: "closed" }));
  });
}

describe.skipIf(!HAVE_PEBBLE)("TLS-ALPN-01 on the edge's own port (no port 80)", () => {
  test("the edge's host and two applications get certificates; ssh, curl and the client's address pass the front; a stranger's acme-tls/1 gets nothing", async () => {
    await using dir = await tempDir("wicket-acme-alpn-");
    const pebble = await startPebble(dir, 3600);
    const root = readFileSync(pebble.rootFile, "utf8");
    await using sshd = await startSshd();
    const edge = await startAcmeEdge(dir, pebble, ["--loglevel", "debug"], "edge", true);
    let tunnel: Proc | undefined;
    try {
      await issued(edge.proc, EDGE_HOST);
      await edge.admin(["zone", "add", "alpn.test"]);
      const apps = ["ssh.alpn.test", "git.alpn.test"];
      for (const app of apps) await edge.admin(["app", "add", app]);
      for (const app of apps) await issued(edge.proc, app);
      for (const name of [EDGE_HOST, ...apps]) {
        const c = await servedCert(edge.port, name, root);
        expect({ name, authorized: c.authorized, san: c.subjectaltname }).toEqual({ name, authorized: true, san: `DNS:${name}` });
        expect(c.issuer.CN).toStartWith("Pebble Intermediate CA");
        expect(edge.proc.stderr()).toContain(`acme: answering a TLS-ALPN-01 validation for ${name} from 127.0.0.1`);
      }
      expect(existsSync(dir.join("dns-hook.log"))).toBe(false); // no name went another way

      // acme-tls/1 with no challenge pending: no handshake, no certificate, nothing ordered or written
      const before = countIssued([edge.proc], "ssh.alpn.test");
      for (const name of ["ssh.alpn.test", "stranger.alpn.test"]) expect(await alpnHandshake(edge.port, name)).toMatchObject({ alpn: false });
      expect(countIssued([edge.proc], "ssh.alpn.test")).toBe(before);
      expect(edge.proc.stderr()).not.toContain("stranger.alpn.test");

      // ssh through the front: a connector and a client, each over a WebSocket it splices
      const token = JSON.parse(await edge.admin(["token", "create", "ci", "--json"]));
      await edge.admin(["policy", "add", "ssh.alpn.test", "--name", "ci", "--action", "allow", "--include", "token:ci"]);
      const certFile = dir.join("cert.pem");
      await edge.admin(["tunnel-cert", "alpn.test", "--out", certFile]);
      tunnel = spawnProc([WICKET, "tunnel", "--hostname", "ssh.alpn.test", "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", certFile, "--ca-file", pebble.rootFile], { name: "tunnel" });
      await tunnel.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });
      const proxy = [WICKET, "access", "ssh", "--hostname", "%h", "--edge", edge.url, "--ca-file", pebble.rootFile, "--id", token.id, "--secret", token.secret].map(shellQuote).join(" ");
      const payload = dir.join("payload");
      writeFileSync(payload, Buffer.alloc(8 << 20, 7));
      const r = await sshd.ssh(["sh", "-c", "'cat > /dev/null; echo through-the-front'"], { host: "ssh.alpn.test", proxyCommand: proxy, stdin: readFileSync(payload) });
      expect({ code: r.code, out: r.stdout.trim(), err: r.code ? r.stderr : "" }).toEqual({ code: 0, out: "through-the-front", err: "" });

      // the edge sees the client's own address, not the front's loopback connection
      const curl = await run(["curl", "-fsS", "--interface", "127.0.0.2", "--cacert", pebble.rootFile, "--resolve", `${EDGE_HOST}:${edge.port}:127.0.0.1`, "-d", "client_id=wicket&scope=tunnel", `${edge.url}/oauth/device`]);
      expect({ code: curl.code, err: curl.stderr }).toEqual({ code: 0, err: "" });
      await edge.proc.waitForLine(/device sign-in \S+ started from 127\.0\.0\.2 for tunnel login/, { stream: "stderr", timeoutMs: 5_000 });
    } finally {
      await tunnel?.stop();
      await edge.stop();
      await pebble.stop();
    }
  }, 90_000);
});

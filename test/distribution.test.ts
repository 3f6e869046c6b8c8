// Distribution end to end: a real edge serves /install.sh and a downloads folder laid out as
// `bun run build --all` lays it out (here holding this machine's dist/wicket), and the real
// `curl … | sh` and `wget … | sh` install from it. Then the cross-compiled build itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chmod, chown, copyFile, link, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { serveDownloads } from "../lib/edge/http/downloads.ts";
import { expectExit, run, type Env, type RunResult } from "./helpers/proc.ts";
import { shellQuote as q } from "./helpers/sshd.ts";
import { machoSignatureProblem } from "./helpers/macho.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, WICKET, type TestEdge } from "./helpers/wicket.ts";

const ROOT = join(import.meta.dir, "..");
const INSTALL_SH = join(ROOT, "scripts", "install.sh");
/** This machine (glibc Linux) as install.sh names it. */
const PLATFORM = `linux-${process.arch}`;

let dir: TempDir;
let edge: TestEdge;
let downloads: string;
let version: string;
let secret: string;

/** `<fetch> <edge>/install.sh | sh`, the way the README says, with the edge's CA trusted. */
function pipeInstall(fetch: "curl" | "wget", env: Env, opts: { sh?: string } = {}): Promise<RunResult> {
  const url = `${edge.url}/install.sh`;
  const get = fetch === "curl" ? `curl -fsSL --cacert ${q(edge.caFile)} ${q(url)}` : `wget -qO- --ca-certificate=${q(edge.caFile)} ${q(url)}`;
  return run([opts.sh ?? "/bin/sh", "-c", `${get} | sh`], { env: { WICKET_CA_FILE: edge.caFile, WICKET_DOWNLOAD_URL: undefined, ...env }, timeoutMs: 120_000 });
}

/** A folder of commands that shadow or stand in for the system's, for PATH. */
async function shims(name: string, scripts: Record<string, string>, links: string[] = []): Promise<string> {
  const d = dir.join(name);
  await mkdir(d);
  for (const [cmd, body] of Object.entries(scripts)) {
    await writeFile(join(d, cmd), `#!/bin/sh\n${body}\n`);
    await chmod(join(d, cmd), 0o755);
  }
  for (const cmd of links) {
    const path = Bun.which(cmd);
    if (path) await symlink(path, join(d, cmd));
  }
  return d;
}

async function get(path: string, init?: RequestInit): Promise<Response> {
  return fetch(`${edge.url}${path}`, { ...init, tls: { ca: await Bun.file(edge.caFile).text() } } as RequestInit);
}

beforeAll(async () => {
  dir = await tempDir("wicket-dist-");
  version = expectExit(await wicket(["--version"])).stdout.trim();

  // <downloads>/<platform>/wicket and SHA256SUMS, written by the system's sha256sum.
  downloads = dir.join("downloads");
  await mkdir(join(downloads, PLATFORM), { recursive: true });
  await link(WICKET, join(downloads, PLATFORM, "wicket")).catch(() => copyFile(WICKET, join(downloads, PLATFORM, "wicket")));
  const sums = expectExit(await run(["sha256sum", `${PLATFORM}/wicket`], { cwd: downloads })).stdout;
  await writeFile(join(downloads, "SHA256SUMS"), sums);

  // <downloads>/bad: the same SHA256SUMS, but one byte of the binary changed in transit.
  await mkdir(join(downloads, "bad", PLATFORM), { recursive: true });
  const bytes = new Uint8Array(await Bun.file(WICKET).arrayBuffer());
  bytes[bytes.length >> 1]! ^= 0xff;
  await writeFile(join(downloads, "bad", PLATFORM, "wicket"), bytes);
  await writeFile(join(downloads, "bad", "SHA256SUMS"), sums);

  // Beside the downloads folder: what a traversal would be after.
  secret = `secret-${crypto.randomUUID()}`;
  await writeFile(dir.join("secret.txt"), secret);

  edge = await startEdge({ dir, extra: ["--downloads-dir", downloads] });
});

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("install.sh from the edge", () => {
  test("curl -fsSL --cacert … /install.sh | sh installs a wicket that runs, and says what to do next", async () => {
    const bin = dir.join("bin-curl");
    const r = expectExit(await pipeInstall("curl", { WICKET_INSTALL_DIR: bin }));
    expect(r.stdout).toContain(`installed ${version} to ${bin}/wicket`);
    expect(r.stdout).toContain("wicket access ssh-config --hostname");
    expect(expectExit(await run([`${bin}/wicket`, "--version"])).stdout.trim()).toBe(version);
    expect(await readdir(bin)).toEqual(["wicket"]); // no temporary files left behind
  });

  test("wget -qO- … | sh installs with wget alone (no curl on PATH)", async () => {
    const tools = ["sh", "uname", "getconf", "ldd", "grep", "awk", "sha256sum", "cut", "tr", "mktemp", "mkdir", "rm", "mv", "chmod", "head", "sed", "wget"];
    const path = await shims("wget-only", {}, tools);
    const bin = dir.join("bin-wget");
    const r = expectExit(await pipeInstall("wget", { WICKET_INSTALL_DIR: bin, PATH: path }));
    expect(r.stdout).toContain(`installed ${version} to ${bin}/wicket`);
    expect(expectExit(await run([`${bin}/wicket`, "--version"])).stdout.trim()).toBe(version);
  });

  test("a binary that does not match SHA256SUMS fails the check and nothing is installed", async () => {
    const bin = dir.join("bin-bad");
    const r = await pipeInstall("curl", { WICKET_INSTALL_DIR: bin, WICKET_DOWNLOAD_URL: `${edge.url}/download/bad` });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`checksum mismatch for ${PLATFORM}/wicket`);
    expect(r.stderr).toContain("nothing was installed");
    expect(await readdir(bin)).toEqual([]);
  });

  test.each([
    ["-m", "riscv64", "unsupported CPU architecture: riscv64"],
    ["-s", "FreeBSD", "unsupported operating system: FreeBSD"],
    ["-m", "aarch64", `has no build for linux-arm64`],
  ])("uname %s saying %s: refused with a clear message, nothing installed", async (flag, answer, message) => {
    const real = Bun.which("uname")!;
    const path = await shims(`uname-${answer}`, { uname: `if [ "$1" = ${flag} ]; then echo ${answer}; else exec ${q(real)} "$@"; fi` });
    const bin = dir.join(`bin-${answer}`);
    const r = await pipeInstall("curl", { WICKET_INSTALL_DIR: bin, PATH: `${path}:${process.env.PATH}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(join(bin, "wicket"))).toBe(false);
  });

  test("a musl system (getconf knows no glibc, ldd says musl) asks for the -musl build", async () => {
    const path = await shims("musl", { getconf: "exit 1", ldd: 'echo "musl libc (x86_64)" >&2; exit 1' });
    const r = await pipeInstall("curl", { WICKET_INSTALL_DIR: dir.join("bin-musl"), PATH: `${path}:${process.env.PATH}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`has no build for ${PLATFORM}-musl`);
  });

  test("the script on its own, not served by an edge, asks for WICKET_DOWNLOAD_URL", async () => {
    const r = await run(["/bin/sh", INSTALL_SH], { env: { WICKET_DOWNLOAD_URL: undefined, WICKET_INSTALL_DIR: dir.join("bin-nourl") } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("set WICKET_DOWNLOAD_URL");
  });

  test.skipIf(process.getuid?.() !== 0 || !Bun.which("setpriv"))("a user who cannot write /usr/local/bin gets ~/.local/bin, and is told to put it on PATH", async () => {
    // Run as nobody: the folders it needs must be reachable, the CA readable.
    const home = dir.join("home-nobody");
    await mkdir(home);
    await chown(home, 65534, 65534);
    await chmod(dir.path, 0o755);
    const ca = dir.join("ca-for-nobody.pem");
    await copyFile(edge.caFile, ca);
    await chmod(ca, 0o644);
    const url = `${edge.url}/install.sh`;
    const r = expectExit(
      await run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", `curl -fsSL --cacert ${q(ca)} ${q(url)} | sh`], {
        env: { HOME: home, WICKET_CA_FILE: ca, WICKET_INSTALL_DIR: undefined, WICKET_DOWNLOAD_URL: undefined, PATH: "/usr/bin:/bin" },
        timeoutMs: 120_000,
      }),
    );
    expect(r.stdout).toContain(`installed ${version} to ${home}/.local/bin/wicket`);
    expect(r.stdout).toContain(`${home}/.local/bin is not on your PATH`);
  });
});

describe("the edge's downloads", () => {
  test("/install.sh is the script with the edge's own URL written in, as plain text", async () => {
    const res = await get("/install.sh");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const body = await res.text();
    expect(body).toContain(`\nWICKET_EDGE_DOWNLOAD_URL='${edge.url}/download'\n`);
    expect(body.replace(/^WICKET_EDGE_DOWNLOAD_URL=.*$/m, "WICKET_EDGE_DOWNLOAD_URL=''")).toBe(await readFile(INSTALL_SH, "utf8"));
  });

  test("SHA256SUMS is text, a binary is an octet-stream download, HEAD works", async () => {
    const sums = await get("/download/SHA256SUMS");
    expect(sums.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await sums.text()).toBe(await readFile(join(downloads, "SHA256SUMS"), "utf8"));
    const bin = await get(`/download/${PLATFORM}/wicket`, { method: "HEAD" });
    expect(bin.status).toBe(200);
    expect(bin.headers.get("content-type")).toBe("application/octet-stream");
    expect(Number(bin.headers.get("content-length"))).toBe(Bun.file(WICKET).size);
  });

  test("a missing file is a 404 that says so; other methods are refused", async () => {
    const res = await get("/download/linux-riscv64/wicket");
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("no such download: linux-riscv64/wicket");
    expect((await get("/download/SHA256SUMS", { method: "POST" })).status).toBe(405);
  });

  test("no path leaves the downloads folder", async () => {
    const attempts = [
      "/download/../secret.txt",
      "/download/%2e%2e/secret.txt",
      "/download/..%2fsecret.txt",
      "/download/%2e%2e%2fsecret.txt",
      "/download/bad/../../secret.txt",
      "/download/bad/..%2f..%2fsecret.txt",
      "/download/..%5csecret.txt",
      "/download/%2fetc%2fpasswd",
      "/download//etc/passwd",
      "/download/.%2e/secret.txt",
    ];
    for (const path of attempts) {
      // curl --path-as-is sends the path exactly as written, dots and escapes included.
      const r = expectExit(await run(["curl", "-sS", "--path-as-is", "--cacert", edge.caFile, "-w", "\n%{http_code}", `${edge.url}${path}`]));
      const status = r.stdout.slice(r.stdout.lastIndexOf("\n") + 1);
      expect({ path, status, leaked: r.stdout.includes(secret) || r.stdout.includes("root:") }).toEqual({ path, status: expect.stringMatching(/^40[04]$/), leaked: false });
    }
    // Nested names inside the folder do work.
    expect((await get("/download/bad/SHA256SUMS")).status).toBe(200);
  });

  test("an edge whose --downloads-dir does not exist yet warns at start, answers 404, and serves it once it exists", async () => {
    const later = dir.join("later");
    await using second = await startEdge({ extra: ["--downloads-dir", later] });
    expect(second.proc.stderr()).toContain(`--downloads-dir ${later} does not exist`);
    const ca = { tls: { ca: await Bun.file(second.caFile).text() } } as RequestInit;
    const before = await fetch(`${second.url}/install.sh`, ca);
    expect(before.status).toBe(404);
    expect(await before.text()).toContain("downloads directory does not exist yet");
    await mkdir(later);
    const after = await fetch(`${second.url}/install.sh`, ca);
    expect(after.status).toBe(200);
    expect(await after.text()).toContain(`WICKET_EDGE_DOWNLOAD_URL='${second.url}/download'`);
  });

  test("an edge without --downloads-dir says how to get one", async () => {
    const res = serveDownloads(new Request("https://edge.example.test/install.sh"), "/install.sh", { publicUrl: "https://edge.example.test" });
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("--downloads-dir");
  });
});

describe("install.sh is portable sh", () => {
  test("dash and bash --posix parse it", async () => {
    expectExit(await run(["dash", "-n", INSTALL_SH]));
    expectExit(await run(["bash", "--posix", "-n", INSTALL_SH]));
  });

  test.skipIf(!Bun.which("shellcheck"))("shellcheck finds nothing in it as POSIX sh", async () => {
    expectExit(await run(["shellcheck", "--shell=sh", INSTALL_SH]));
  });
});

describe("the compiled binary", () => {
  test("--version is the package version and the git commit", () => {
    expect(version).toMatch(new RegExp(`^wicket ${pkg.version.replaceAll(".", "\\.")}\\+[0-9a-f]{7,}$`));
  });

  test("reads neither .env nor bunfig.toml from the folder it runs in", async () => {
    const cwd = dir.join("project");
    await mkdir(cwd);
    await writeFile(join(cwd, ".env"), "WICKET_EDGE=https://from-dotenv.invalid\n");
    await writeFile(join(cwd, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    await writeFile(join(cwd, "preload.ts"), 'console.error("PRELOADED FROM BUNFIG");\n');
    const r = expectExit(await run([WICKET, "access", "ssh-config", "--hostname", "ssh.example.test"], { cwd, env: { WICKET_EDGE: undefined } }));
    expect(r.stdout).not.toContain("from-dotenv");
    expect(r.stderr).not.toContain("PRELOADED");
  });
});

// Cross-compiling fetches seven Bun runtimes from npm once (~350 MB, then cached in
// .cache/bun-runtimes) and writes ~730 MB; measured here: 20 s cold, 8 s warm.
describe("bun run build --all", () => {
  const FILE_TYPES: Record<string, RegExp> = {
    "linux-x64/wicket": /^ELF 64-bit LSB .*x86-64.*interpreter \/lib64\/ld-linux-x86-64\.so\.2/,
    "linux-arm64/wicket": /^ELF 64-bit LSB .*ARM aarch64.*interpreter \/lib\/ld-linux-aarch64\.so\.1/,
    "linux-x64-musl/wicket": /^ELF 64-bit LSB .*x86-64.*interpreter \/lib\/ld-musl-x86_64\.so\.1/,
    "linux-arm64-musl/wicket": /^ELF 64-bit LSB .*ARM aarch64.*interpreter \/lib\/ld-musl-aarch64\.so\.1/,
    "darwin-x64/wicket": /^Mach-O 64-bit x86_64 executable/,
    "darwin-arm64/wicket": /^Mach-O 64-bit arm64 executable/,
    "windows-x64/wicket.exe": /^PE32\+ executable \(console\) x86-64, for MS Windows/,
  };

  let out: string;

  test(
    "builds every platform with the right file type, a SHA256SUMS that checks, and macOS signatures that hold",
    async () => {
      out = dir.join("cross");
      expectExit(await run([process.execPath, join(ROOT, "scripts", "build.ts"), "--all", "--out", out], { timeoutMs: 600_000 }));

      const types: Record<string, string> = {};
      for (const f of Object.keys(FILE_TYPES)) types[f] = expectExit(await run(["file", "-b", join(out, f)])).stdout.trim();
      for (const [f, re] of Object.entries(FILE_TYPES)) expect({ f, type: types[f] }).toEqual({ f, type: expect.stringMatching(re) });

      const check = expectExit(await run(["sha256sum", "--strict", "-c", "SHA256SUMS"], { cwd: out }));
      expect(check.stdout.trim().split("\n").sort()).toEqual(Object.keys(FILE_TYPES).map((f) => `${f}: OK`).sort());

      // The one this machine can run, runs; the macOS ones would not be killed for their signature.
      expect(expectExit(await run([join(out, PLATFORM, "wicket"), "--version"])).stdout.trim()).toBe(version);
      expect(await machoSignatureProblem(join(out, "darwin-x64", "wicket"))).toBeUndefined();
      expect(await machoSignatureProblem(join(out, "darwin-arm64", "wicket"))).toBeUndefined();
    },
    600_000,
  );

  // CI installs qemu-user-static and Debian's arm64 C library (libc6-arm64-cross) for this.
  const QEMU = "/usr/bin/qemu-aarch64-static";
  const ARM64_LIBC = "/usr/aarch64-linux-gnu";
  test.skipIf(!existsSync(QEMU) || !existsSync(ARM64_LIBC))("the linux-arm64 build runs: --version, ssh-config, and a usage error with its exit code (under qemu-user)", async () => {
    const arm64 = (...args: string[]) => run([QEMU, "-L", ARM64_LIBC, join(out, "linux-arm64", "wicket"), ...args], { timeoutMs: 120_000 });
    expect(expectExit(await arm64("--version")).stdout.trim()).toBe(version);
    expect(expectExit(await arm64("access", "ssh-config", "--hostname", "ssh.site.test")).stdout).toContain("ProxyCommand");
    const bad = await arm64("access", "ssh", "--hostname", "ssh.site.test", "--id", "only-half");
    expect([bad.code, bad.stderr.trim().split("\n").length]).toEqual([64, 1]);
  }, 240_000);
});

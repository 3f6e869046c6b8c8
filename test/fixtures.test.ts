// The test fixtures themselves, with real OpenSSH tools and no wicket at all: if these fail,
// an integration test's failure says nothing about wicket.
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { git } from "./helpers/git.ts";
import { freePort } from "./helpers/ports.ts";
import { expectExit, run, spawnProc } from "./helpers/proc.ts";
import { DEFAULT_HOST, shellQuote, startSshd } from "./helpers/sshd.ts";
import { tempDir } from "./helpers/tmp.ts";

// A plain TCP pipe between stdin/stdout and host:port, standing in for `wicket access ssh`
// as a ProxyCommand. node:net's pipe() carries back-pressure both ways.
const TCP_PIPE = `
import { connect } from "node:net";
const [host, port] = process.argv.slice(2);
const socket = connect(Number(port), host);
socket.on("error", (e) => { console.error("tcp-pipe:", e.message); process.exit(1); });
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on("close", () => process.exit(0));
`;

async function tcpPipeCommand(dir: string, port: number): Promise<string> {
  const script = `${dir}/tcp-pipe.ts`;
  await writeFile(script, TCP_PIPE);
  return [process.execPath, script, "127.0.0.1", String(port)].map(shellQuote).join(" ");
}

describe("test fixtures (real OpenSSH, no wicket)", () => {
  test("freePort gives a port that can be listened on", () => {
    const port = freePort();
    expect(port).toBeGreaterThan(0);
    const listener = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    expect(listener.port).toBe(port);
    listener.stop(true);
  });

  test("spawnProc waits for lines in order and reports the exit code", async () => {
    await using p = spawnProc(["sh", "-c", "echo one; echo two >&2; echo three; exit 3"]);
    expect((await p.waitForLine(/^t(\w+)/, { stream: "stdout" }))[1]).toBe("hree");
    expect((await p.waitForLine(/two/, { stream: "stderr" }))[0]).toBe("two");
    expect(await p.exited).toBe(3);
    await expect(p.waitForLine(/four/)).rejects.toThrow(/exited with code 3 before printing a line matching \/four\/[\s\S]*one\nthree/);
  });

  test("waitForLine times out with the output collected so far", async () => {
    await using p = spawnProc(["sh", "-c", "echo waiting; exec sleep 30"]);
    await p.waitForLine(/waiting/);
    await expect(p.waitForLine(/never/, 200)).rejects.toThrow(/timed out after 200 ms[\s\S]*waiting/);
    expect(await p.stop()).toBe(143); // SIGTERM
  });

  test("run passes stdin and returns output and exit code", async () => {
    const r = await run(["sh", "-c", "tr a-z A-Z; exit 5"], { stdin: "hello" });
    expect(r).toMatchObject({ code: 5, stdout: "HELLO", stderr: "" });
  });

  test("sshd starts on a free port and ssh gets the remote command's output and exit code", async () => {
    await using sshd = await startSshd();
    expect(sshd.port).toBeGreaterThan(0);
    const r = await sshd.ssh(["echo ok; exit 7"]);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 7, stdout: "ok\n", stderr: "" });
    await sshd.proc.waitForLine(new RegExp(`Accepted publickey for ${sshd.user} from 127\\.0\\.0\\.1`), { stream: "stderr" });
    expect(sshd.proc.exitCode).toBeUndefined();
    expect(await sshd.stop()).toBe(0); // sshd exits cleanly on SIGTERM
  });

  test("ssh refuses a host key other than the pinned one", async () => {
    await using sshd = await startSshd();
    await using other = await startSshd();
    const c = await sshd.client("pinned.site.test");
    // pin the other server's key under the same name
    await writeFile(sshd.knownHostsFile, `${other.knownHostsLine("pinned.site.test")}\n`);
    const r = await run(["ssh", ...c.args, c.host, "true"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test("ssh through a ProxyCommand that pipes to sshd reaches the same server", async () => {
    await using sshd = await startSshd();
    await using dir = await tempDir();
    const proxyCommand = await tcpPipeCommand(dir.path, sshd.port);
    const r = expectExit(await sshd.ssh(["echo via-proxy; echo err >&2"], { proxyCommand }));
    expect(r.stdout).toBe("via-proxy\n");
    expect(r.stderr).toBe("err\n");
    // the config names the host; the proxy is what reaches 127.0.0.1
    const c = await sshd.client(DEFAULT_HOST, { proxyCommand });
    const config = await readFile(c.configFile, "utf8");
    expect(config).toContain(`ProxyCommand ${proxyCommand}`);
    expect(config).not.toContain("HostName");
  });

  test("scp copies a file up and back unchanged, through the ProxyCommand", async () => {
    await using sshd = await startSshd();
    await using dir = await tempDir();
    const c = await sshd.client(DEFAULT_HOST, { proxyCommand: await tcpPipeCommand(dir.path, sshd.port) });
    const data = randomBytes(300 * 1024);
    await writeFile(dir.join("up.bin"), data);
    expectExit(await run(["scp", ...c.args, dir.join("up.bin"), `${c.host}:${dir.join("remote.bin")}`]));
    expectExit(await run(["scp", ...c.args, `${c.host}:${dir.join("remote.bin")}`, dir.join("back.bin")]));
    expect(Buffer.compare(await readFile(dir.join("back.bin")), data)).toBe(0);
  });

  test("rsync -e copies a directory", async () => {
    await using sshd = await startSshd();
    await using dir = await tempDir();
    const c = await sshd.client();
    await Bun.write(dir.join("src/a.txt"), "alpha\n");
    await Bun.write(dir.join("src/sub/b.txt"), "beta\n");
    expectExit(await run(["rsync", "-a", "-e", c.command, `${dir.join("src")}/`, `${c.host}:${dir.join("dst")}/`]));
    expect(await readFile(dir.join("dst/sub/b.txt"), "utf8")).toBe("beta\n");
  });

  test("git clones from and pushes to a bare repository over ssh", async () => {
    await using sshd = await startSshd();
    await using dir = await tempDir();
    const c = await sshd.client();
    const bare = dir.join("repo.git");
    await git(["init", "--bare", bare]);
    const url = `${c.host}:${bare}`;

    await git(["clone", url, dir.join("one")], { ssh: c.command });
    await writeFile(dir.join("one/README"), "hello over ssh\n");
    await git(["add", "README"], { cwd: dir.join("one") });
    await git(["commit", "-m", "first"], { cwd: dir.join("one") });
    await git(["push", "origin", "HEAD:main"], { cwd: dir.join("one"), ssh: c.command });

    await git(["clone", "--branch", "main", url, dir.join("two")], { ssh: c.command });
    expect(await readFile(dir.join("two/README"), "utf8")).toBe("hello over ssh\n");
    const log = await git(["--git-dir", bare, "log", "--format=%s", "main"]);
    expect(log.stdout).toBe("first\n");
  });

  test("certificates: an sshd that trusts a user CA lets in a key it signed, without authorized_keys", async () => {
    await using dir = await tempDir();
    const ca = dir.join("ca");
    const key = dir.join("user");
    expectExit(await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca]));
    expectExit(await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key]));
    await using sshd = await startSshd({ authorizeClientKey: false, trustedUserCAKeys: await readFile(`${ca}.pub`, "utf8") });

    expect((await sshd.ssh(["true"], { identityFile: key })).code).toBe(255);
    expectExit(await run(["ssh-keygen", "-q", "-s", ca, "-I", "test", "-n", sshd.user, "-V", "+5m", `${key}.pub`]));
    const r = expectExit(await sshd.ssh(["echo cert-ok"], { identityFile: key, certificateFile: `${key}-cert.pub` }));
    expect(r.stdout).toBe("cert-ok\n");
  });
});

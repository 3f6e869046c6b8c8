// A real OpenSSH server for a test, and the client options that reach it.
//
// startSshd() runs /usr/sbin/sshd in the foreground on 127.0.0.1 as the current user (root
// in CI), from its own temporary directory: host key, client key pair, authorized_keys,
// config and pid file all live there and go when it is disposed. sshd cannot listen on
// port 0, so it takes a free port and tries another if that one was taken meanwhile.
//
// Clients never read ~/.ssh or /etc/ssh: client() writes an ssh_config for one host name
// (the name a test connects to, such as ssh.site.test) with the key, a known_hosts file
// that pins the server's host key under that name, BatchMode and, when given, the
// ProxyCommand. `ssh -F <that file>` is then the same for ssh, scp, sftp, rsync and git.
import { existsSync, mkdirSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import { freePort } from "./ports.ts";
import { expectExit, run, spawnProc, type Proc, type RunOptions, type RunResult } from "./proc.ts";
import { tempDir, type TempDir } from "./tmp.ts";

export const SSHD_PATH = "/usr/sbin/sshd";
/** The host name tests give the SSH application unless they need several. */
export const DEFAULT_HOST = "ssh.site.test";

export interface SshdOptions {
  /** Public keys (OpenSSH one-line format) of user CAs whose certificates sshd accepts. */
  trustedUserCAKeys?: string;
  /** Put the generated client key into authorized_keys (default true; false to test certificates alone). */
  authorizeClientKey?: boolean;
  /** More authorized_keys lines. */
  authorizedKeys?: string[];
  /** More sshd_config lines, after ours (sshd takes the first value of most keywords, so these cannot override ours). */
  config?: string[];
  /** Default 10 s. */
  startTimeoutMs?: number;
}

export interface SshClientOptions {
  /** ProxyCommand in ssh_config syntax (%h, %p, %r expand). Without it ssh dials the sshd directly. */
  proxyCommand?: string;
  /** Remote user; default the sshd's user. */
  user?: string;
  /** Private key; default the generated client key. */
  identityFile?: string;
  /** SSH certificate for the key (short-lived certificate tests). */
  certificateFile?: string;
  /** More ssh_config lines for this host. */
  config?: string[];
}

export interface SshClient {
  host: string;
  /** The ssh_config file written for this host. */
  configFile: string;
  /** Arguments that select that config: `["-F", configFile]`, for ssh, scp and sftp. */
  args: string[];
  /** `ssh -F '<configFile>'`, for GIT_SSH_COMMAND and `rsync -e`. */
  command: string;
}

export interface Sshd extends AsyncDisposable {
  port: number;
  /** The temporary directory that holds everything. */
  dir: string;
  /** The user sshd runs as and lets in. */
  user: string;
  /** sshd_config path. */
  configFile: string;
  /** Host public key, OpenSSH one-line format. */
  hostKeyPub: string;
  /** Generated client private key path (its public key is `${clientKey}.pub`). */
  clientKey: string;
  clientKeyPub: string;
  /** The known_hosts file every client() writes its host name into. */
  knownHostsFile: string;
  /** The sshd process: waitForLine over its log (LogLevel VERBOSE, on stderr). */
  proc: Proc;
  /** `<host> <key type> <key>`: the host key pinned under a host name. */
  knownHostsLine(host?: string): string;
  /** Writes an ssh_config for `host` and pins the host key under that name. */
  client(host?: string, opts?: SshClientOptions): Promise<SshClient>;
  /** `client(host, opts).args`. */
  sshArgs(host?: string, opts?: SshClientOptions): Promise<string[]>;
  /** Runs `ssh -F <config> <host> <args…>`; the result's code is the remote command's exit code (255: ssh failed). */
  ssh(args: string[], opts?: RunOptions & SshClientOptions & { host?: string }): Promise<RunResult>;
  /** Stops sshd and every session it started; resolves sshd's exit code. */
  stop(): Promise<number>;
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The login name of this process's user. (Bun's os.userInfo() says "unknown" where USER is unset, as in CI.) */
export function currentUser(): string {
  const r = Bun.spawnSync(["id", "-un"], { stdout: "pipe", stderr: "ignore" });
  const name = r.stdout.toString().trim();
  if (r.exitCode !== 0 || !name) throw new Error(`id -un failed (exit ${r.exitCode}): cannot tell which user sshd should let in`);
  return name;
}

/** A Unix user for certificate tests, unlocked (`*`): sshd without PAM refuses locked accounts. */
export async function ensureUnixUser(name: string): Promise<void> {
  if ((await run(["id", "-u", name])).code === 0) return;
  expectExit(await run(["useradd", "-m", "-s", "/bin/sh", name]));
  expectExit(await run(["usermod", "-p", "*", name]));
}

async function keygen(path: string, comment: string): Promise<void> {
  expectExit(await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]));
}

function sshdConfig(dir: TempDir, port: number, opts: SshdOptions): string {
  const lines = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${dir.join("ssh_host_ed25519_key")}`,
    `PidFile ${dir.join("sshd.pid")}`,
    `AuthorizedKeysFile ${dir.join("authorized_keys")}`,
    "UsePAM no",
    // the temporary directory is not laid out like a home directory
    "StrictModes no",
    // tests run as root, here and in CI
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PrintMotd no",
    // scp and sftp go over the SFTP subsystem
    "Subsystem sftp internal-sftp",
    "LogLevel VERBOSE",
  ];
  if (opts.trustedUserCAKeys) lines.push(`TrustedUserCAKeys ${dir.join("trusted_user_ca_keys")}`);
  return [...lines, ...(opts.config ?? []), ""].join("\n");
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  // Debian's sshd refuses to start without its privilege separation directory.
  if (!existsSync("/run/sshd") && process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const dir = await tempDir("wicket-sshd-");
  try {
    const hostKey = dir.join("ssh_host_ed25519_key");
    const clientKey = dir.join("client_ed25519");
    await Promise.all([keygen(hostKey, "wicket-test-host"), keygen(clientKey, "wicket-test-client")]);
    const [hostKeyPub, clientKeyPub] = (await Promise.all([readFile(`${hostKey}.pub`, "utf8"), readFile(`${clientKey}.pub`, "utf8")])).map((s) => s.trim()) as [string, string];
    const authorized = [...(opts.authorizeClientKey === false ? [] : [clientKeyPub]), ...(opts.authorizedKeys ?? [])];
    await writeFile(dir.join("authorized_keys"), authorized.map((l) => `${l}\n`).join(""), { mode: 0o600 });
    if (opts.trustedUserCAKeys) await writeFile(dir.join("trusted_user_ca_keys"), `${opts.trustedUserCAKeys.trim()}\n`);
    const knownHostsFile = dir.join("known_hosts");
    await writeFile(knownHostsFile, "");

    const configFile = dir.join("sshd_config");
    let proc: Proc | undefined;
    let port = 0;
    for (let attempt = 1; !proc; attempt++) {
      port = freePort();
      await writeFile(configFile, sshdConfig(dir, port, opts));
      // its own process group, so that stopping it also ends the sessions it forked
      const p = spawnProc([SSHD_PATH, "-D", "-e", "-f", configFile], { name: "sshd", detached: true });
      try {
        await p.waitForLine(new RegExp(`Server listening on 127\\.0\\.0\\.1 port ${port}\\b`), { stream: "stderr", timeoutMs: opts.startTimeoutMs ?? 10_000 });
        proc = p;
      } catch (err) {
        await p.stop();
        // another process took the port between freePort() and sshd's bind
        if (attempt < 5 && /Address already in use|Cannot bind any address/.test(p.stderr())) continue;
        throw err;
      }
    }

    const user = currentUser();
    const pinned = new Set<string>();
    let configs = 0;
    const knownHostsLine = (host = DEFAULT_HOST) => `${host} ${hostKeyPub.split(/\s+/).slice(0, 2).join(" ")}`;

    const client = async (host = DEFAULT_HOST, o: SshClientOptions = {}): Promise<SshClient> => {
      if (!pinned.has(host)) {
        pinned.add(host);
        await appendFile(knownHostsFile, `${knownHostsLine(host)}\n`);
      }
      const lines = [
        `Host ${host}`,
        ...(o.proxyCommand ? [`  ProxyCommand ${o.proxyCommand}`] : ["  HostName 127.0.0.1", `  Port ${port}`]),
        `  User ${o.user ?? user}`,
        `  IdentityFile ${o.identityFile ?? clientKey}`,
        ...(o.certificateFile ? [`  CertificateFile ${o.certificateFile}`] : []),
        "  IdentitiesOnly yes",
        "  IdentityAgent none",
        `  UserKnownHostsFile ${knownHostsFile}`,
        "  GlobalKnownHostsFile /dev/null",
        // the pinned name, whatever address or proxy the connection really goes through
        `  HostKeyAlias ${host}`,
        "  StrictHostKeyChecking yes",
        "  UpdateHostKeys no",
        "  BatchMode yes",
        "  ControlMaster no",
        "  ControlPath none",
        "  ConnectTimeout 10",
        "  LogLevel ERROR",
        ...(o.config ?? []).map((l) => `  ${l}`),
        "",
      ];
      const configFile = dir.join(`ssh_config.${++configs}`);
      await writeFile(configFile, lines.join("\n"));
      return { host, configFile, args: ["-F", configFile], command: `ssh -F ${shellQuote(configFile)}` };
    };

    const sshd: Sshd = {
      port,
      dir: dir.path,
      user,
      configFile,
      hostKeyPub,
      clientKey,
      clientKeyPub,
      knownHostsFile,
      proc,
      knownHostsLine,
      client,
      sshArgs: async (host, o) => (await client(host, o)).args,
      async ssh(args, o = {}) {
        const host = o.host ?? DEFAULT_HOST;
        const c = await client(host, o);
        return run(["ssh", ...c.args, host, ...args], o);
      },
      async stop() {
        const code = await proc.stop();
        await dir.remove();
        return code;
      },
      async [Symbol.asyncDispose]() {
        if (proc.exitCode === undefined) await proc.stop();
        await dir.remove();
      },
    };
    return sshd;
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

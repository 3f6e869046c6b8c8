// Where wicket keeps its files, and how it writes the private ones. On the user's machine all
// are under ~/.wicket (WICKET_HOME overrides, for tests); an edge keeps its own in its data
// directory. Names derived from hostnames go through safeName, so a hostname cannot point outside.
import { chmodSync, mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { homedir } from "node:os";
import { log } from "./cli/log.ts";

export const wicketHome = () => process.env.WICKET_HOME || join(homedir(), ".wicket");
export const originCertPath = () => join(wicketHome(), "cert.pem");

/** A hostname as a file name: lower-case letters, digits, dots and dashes only, no leading dot. */
export function safeName(hostname: string): string {
  const s = hostname.toLowerCase().replace(/[^a-z0-9.-]/g, "_").replace(/^\.+/, "_");
  return s.slice(0, 200) || "_";
}

/** App tokens from the browser sign-in, one file per application hostname. */
export const APP_TOKEN_SUFFIX = ".jwt";
export const tokensDir = () => join(wicketHome(), "tokens");
export const appTokenPath = (hostname: string) => join(tokensDir(), `${safeName(hostname)}${APP_TOKEN_SUFFIX}`);
/** A workload's app token, found only by a process holding the same ID token (`key`: a hash of it). */
export const workloadTokenPath = (hostname: string, key: string) => join(tokensDir(), `${safeName(hostname)}.workload-${safeName(key)}${APP_TOKEN_SUFFIX}`);

/** The org session for an edge (its issuer URL): mints app tokens without a browser. */
export const ORG_SESSION_SUFFIX = "-session";
export const signInPath = (issuer: string) => join(wicketHome(), `${safeName(new URL(issuer).host)}${ORG_SESSION_SUFFIX}`);

/** Held while one process signs in to an edge, so that parallel ones wait instead of each opening a browser. */
export const signInLockPath = (issuer: string) => `${signInPath(issuer)}.lock`;

/** The ephemeral key `access ssh-gen` makes for a hostname, and its certificate beside it. */
export const sshKeyPaths = (hostname: string, home = wicketHome()) => keyPaths(safeName(hostname), home);
/** The same with `%h` for the hostname, for ssh_config, where ssh expands it. */
export const sshKeyPathsForAnyHost = (home = wicketHome()) => keyPaths("%h", home);

function keyPaths(name: string, home: string): { key: string; cert: string } {
  const key = join(home, `${name}-key`);
  return { key, cert: `${key}-cert.pub` };
}

/** `wicket tunnel service`: the tunnel's config file, and its log where launchd needs one. */
export const tunnelConfigPath = () => join(wicketHome(), "tunnel.yaml");
export const tunnelLogPath = () => join(wicketHome(), "tunnel.log");

/** A named tunnel's credentials (`tunnel create`): its id names the file, as cloudflared's do. */
export const tunnelCredentialsPath = (id: string) => join(wicketHome(), `${safeName(id)}.json`);

/** The edge's data directory when `--data-dir` is not given. */
export const defaultEdgeDataDir = () => join(wicketHome(), "edge");

// Files in the edge's data directory.
/** The SQLite store. */
export const DB_FILE = "wicket.db";
/** The admin token made on the first start, for admin commands on the same machine. */
export const ADMIN_TOKEN_FILE = "admin-token";
/** The URL the edge serves at, for admin commands on the same machine. */
export const PUBLIC_URL_FILE = "public-url";
/** The self-signed CA, and its key. */
export const CA_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";

/** Makes `dir` (0700); ~/.wicket and what is in it are made 0700 even if they were there,
 * looser, before: other users of the machine must not list the hostnames or tunnels in it. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const home = wicketHome();
  for (let d = dir; d === home || d.startsWith(home + sep); d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o077) !== 0) chmodSync(d, 0o700);
    } catch (e) {
      // not ours to change (a shared WICKET_HOME): the files in it are still 0600
      log.warn(`cannot make ${d} private (${(e as NodeJS.ErrnoException).code}); other users may list what is in it`);
    }
    if (d === home) break;
  }
}

/**
 * Writes a file only its owner may read (0600), in a directory made 0700 if it is missing. It
 * replaces an old file whole (a reader sees the old text or the new), or, `exclusive`, fails
 * with EEXIST when there is one.
 */
export function writePrivate(path: string, text: string, opts: { exclusive?: boolean } = {}): void {
  privateDir(dirname(path));
  if (opts.exclusive) {
    writeFileSync(path, text, { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600); // the umask may have narrowed the mode, never widened it; make it exact
    return;
  }
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

import { posix, win32 } from "node:path";
import { sshKeyPaths, sshKeyPathsForAnyHost } from "../paths.ts";
import { commandLineQuote, wicketCommand } from "../cli/self.ts";
import { configError } from "../cli/exit.ts";

export interface StanzaOptions {
  hostname?: string;
  edge?: string;
  caFile?: string;
  /** Log in with a short-lived certificate from `access ssh-gen` instead of a key of one's own. */
  shortLivedCert?: boolean;
}

/** Who the stanza is for: this process unless a test says otherwise. */
export interface StanzaTarget {
  platform?: NodeJS.Platform;
  /** argv prefix that runs wicket. */
  command?: string[];
  /** Where the reader's wicket keeps its keys, if not this process's (the edge's page: `~/.wicket`). */
  home?: string;
}

const HOST_TOKEN = "%h";

/** ssh_config takes double quotes around arguments with spaces. */
const configQuote = (s: string) => (/[\s"]/.test(s) ? `"${s.replaceAll('"', '\\"')}"` : s);

/**
 * The stanza of the seed, with the absolute path of this binary, quoted for the OpenSSH of
 * the platform: its ProxyCommand and Match exec lines run through `sh -c` on POSIX, and on
 * Windows as a command line the program splits by the C runtime's rules.
 */
export function sshConfigStanza(opts: StanzaOptions, target: StanzaTarget = {}): string {
  const platform = target.platform ?? process.platform;
  const host = opts.hostname || "[your hostname]";
  const abs = (platform === "win32" ? win32 : posix).resolve;
  // Settings that are not in the environment of every later ssh must be in the stanza.
  const common = [...(opts.edge ? ["--edge", opts.edge] : []), ...(opts.caFile ? ["--ca-file", abs(opts.caFile)] : [])];
  // ssh_config expands %-tokens in these commands: every literal % (in a path, say) is %%.
  const wicket = (...args: string[]) =>
    [...(target.command ?? wicketCommand()), ...args, ...common].map((w) => (w === HOST_TOKEN ? w : commandLineQuote(w, platform).replaceAll("%", "%%"))).join(" ");
  const proxy = `\tProxyCommand ${wicket("access", "ssh", "--hostname", HOST_TOKEN)}\n`;
  if (!opts.shortLivedCert) return `Host ${host}\n${proxy}`;
  // `Match exec` runs before authentication: it refreshes the certificate when needed.
  // without a hostname, ssh expands %h in the paths as it does in the Match line
  const paths = opts.hostname ? sshKeyPaths(opts.hostname, target.home) : sshKeyPathsForAnyHost(target.home);
  const refresh = wicket("access", "ssh-gen", "--hostname", HOST_TOKEN);
  // ssh_config reads `exec "…"` up to the next double quote, with no escape for one.
  if (refresh.includes('"')) throw configError(`a path in the Match exec line has a double quote in it, which ssh_config cannot carry there: ${refresh}; move it to a path without one`);
  return `Match host ${host} exec "${refresh}"\n${proxy}\tIdentityFile ${configQuote(paths.key)}\n\tCertificateFile ${configQuote(paths.cert)}\n\tIdentitiesOnly yes\n`;
}

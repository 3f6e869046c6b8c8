import { join, resolve } from "node:path";
import { wicketHome } from "../paths.ts";
import { shellQuote, wicketCommand } from "../cli/self.ts";
import { certPaths } from "./ssh-gen.ts";

export interface StanzaOptions {
  hostname?: string;
  edge?: string;
  caFile?: string;
  /** Log in with a short-lived certificate from `access ssh-gen` instead of a key of one's own. */
  shortLivedCert?: boolean;
}

/** ssh_config takes double quotes around arguments with spaces. */
const configQuote = (s: string) => (/[\s"]/.test(s) ? `"${s.replaceAll('"', '\\"')}"` : s);

/** The stanza of the seed, with the absolute path of this binary, quoted where needed. */
export function sshConfigStanza(opts: StanzaOptions): string {
  const host = opts.hostname || "[your hostname]";
  // Settings that are not in the environment of every later ssh must be in the stanza.
  const common = [...(opts.edge ? ["--edge", opts.edge] : []), ...(opts.caFile ? ["--ca-file", resolve(opts.caFile)] : [])];
  const wicket = (...args: string[]) => [...wicketCommand(), ...args, ...common].map(shellQuote).join(" ");
  const proxy = `\tProxyCommand ${wicket("access", "ssh", "--hostname", "%h")}\n`;
  if (!opts.shortLivedCert) return `Host ${host}\n${proxy}`;
  // `Match exec` runs before authentication: it refreshes the certificate when needed.
  // without a hostname, ssh expands %h in the paths as it does in the Match line
  const paths = opts.hostname ? certPaths(opts.hostname) : { key: join(wicketHome(), "%h-key"), cert: join(wicketHome(), "%h-key-cert.pub") };
  return `Match host ${host} exec "${wicket("access", "ssh-gen", "--hostname", "%h")}"\n${proxy}\tIdentityFile ${configQuote(paths.key)}\n\tCertificateFile ${configQuote(paths.cert)}\n\tIdentitiesOnly yes\n`;
}

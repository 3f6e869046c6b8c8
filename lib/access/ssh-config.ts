import { resolve } from "node:path";
import { shellQuote, wicketCommand } from "../cli/self.ts";

/** The stanza of the seed, with the absolute path of this binary, quoted where needed. */
export function sshConfigStanza(opts: { hostname?: string; edge?: string; caFile?: string }): string {
  const argv = [...wicketCommand(), "access", "ssh", "--hostname", "%h"];
  // Settings that are not in the environment of every later ssh must be in the stanza.
  if (opts.edge) argv.push("--edge", opts.edge);
  if (opts.caFile) argv.push("--ca-file", resolve(opts.caFile));
  return `Host ${opts.hostname || "[your hostname]"}\n\tProxyCommand ${argv.map(shellQuote).join(" ")}\n`;
}

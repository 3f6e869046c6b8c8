import { posix, win32 } from "node:path";
import { commandLineQuote, wicketCommand } from "../cli/self.ts";

const HOST_TOKEN = "%h";

/**
 * The stanza of the seed, with the absolute path of this binary, quoted for the platform's
 * OpenSSH (`platform` and `command` are there for tests; they default to this process).
 */
export function sshConfigStanza(
  opts: { hostname?: string; edge?: string; caFile?: string },
  self: { platform?: NodeJS.Platform; command?: string[] } = {},
): string {
  const platform = self.platform ?? process.platform;
  const argv = [...(self.command ?? wicketCommand()), "access", "ssh", "--hostname", HOST_TOKEN];
  // Settings that are not in the environment of every later ssh must be in the stanza.
  if (opts.edge) argv.push("--edge", opts.edge);
  if (opts.caFile) argv.push("--ca-file", (platform === "win32" ? win32 : posix).resolve(opts.caFile));
  // ssh_config expands %-tokens in ProxyCommand: every literal % (in a path, say) is %%.
  const words = argv.map((w) => (w === HOST_TOKEN ? w : commandLineQuote(w, platform).replaceAll("%", "%%")));
  return `Host ${opts.hostname || "[your hostname]"}\n\tProxyCommand ${words.join(" ")}\n`;
}

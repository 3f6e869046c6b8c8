// Hop 8: whether ~/.ssh/config's stanza for the hostname is what `wicket access ssh-config`
// prints now (a binary moved, an --edge changed), and for a short-lived-certificate stanza,
// the certificate `ssh-gen` would get and the one it has.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { sshConfigStanza, type StanzaOptions } from "../access/ssh-config.ts";
import { EXIT } from "../cli/exit.ts";
import { sshKeyPaths } from "../paths.ts";
import { certValidBefore } from "../ssh/format.ts";
import type { DoctorAnswer } from "../wire/doctor.ts";
import { fail, pass, type Outcome } from "./hop.ts";

export const userSshConfig = () => join(homedir(), ".ssh", "config");

/** A stanza's lines as ssh reads them: trimmed, blank lines and comments dropped, keywords in lower case. */
const normal = (lines: string[]) =>
  lines
    .map((l) => l.trim().replace(/\s+/g, " "))
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/^\S+/, (k) => k.toLowerCase()));

/** The blocks of an ssh_config (a Host or Match line and what follows it) that name `hostname`. */
export function stanzasFor(config: string, hostname: string): string[][] {
  const blocks: string[][] = [];
  let current: string[] | undefined;
  for (const line of config.split(/\r?\n/)) {
    if (/^\s*(host|match)\s/i.test(line)) blocks.push((current = [line]));
    else current?.push(line);
  }
  const names = (head: string) => head.trim().split(/\s+/).map((w) => w.replace(/^"|"$/g, "").toLowerCase());
  return blocks.filter((b) => {
    const words = names(b[0]!);
    return words[0] === "host" ? words.slice(1).includes(hostname) : words[0] === "match" && words[1] === "host" && words[2]?.split(",").includes(hostname);
  });
}

/** The first line where `have` and `want` differ, for the reason. */
function firstDifference(have: string[], want: string[]): string {
  for (let i = 0; i < Math.max(have.length, want.length); i++) {
    if (have[i] !== want[i]) return `has ${have[i] === undefined ? "nothing" : JSON.stringify(have[i])} where \`ssh-config\` prints ${want[i] === undefined ? "nothing" : JSON.stringify(want[i])}`;
  }
  return "differs";
}

export async function checkSshConfig(opts: StanzaOptions & { hostname: string }, answer: DoctorAnswer | undefined, file = userSshConfig()): Promise<Outcome> {
  const text = await readFile(file, "utf8").catch(() => "");
  const found = stanzasFor(text, opts.hostname);
  const flags = `--hostname ${opts.hostname}${opts.edge ? ` --edge ${opts.edge}` : ""}${opts.caFile ? ` --ca-file ${opts.caFile}` : ""}`;
  if (found.length === 0) return pass(`no stanza for ${opts.hostname} in ${file}; to use plain ssh, add the output of \`wicket access ssh-config ${flags}\``);
  const have = normal(found[0]!);
  const shortLived = have[0]!.startsWith("match");
  const want = normal(sshConfigStanza({ ...opts, shortLivedCert: shortLived }).split("\n"));
  const command = `wicket access ssh-config ${flags}${shortLived ? " --short-lived-cert" : ""}`;
  if (have.join("\n") !== want.join("\n")) {
    return fail(`the stanza for ${opts.hostname} in ${file} ${firstDifference(have, want)}`, `replace it with the output of \`${command}\``, EXIT.config);
  }
  if (!shortLived) return pass(`the stanza for ${opts.hostname} in ${file} is what \`ssh-config\` prints`);
  const ssh = answer?.ssh;
  if (ssh?.problem) return fail(ssh.problem, "ask an admin: the application's --ssh-principal, or the service token's --principal, names the Unix user", EXIT.denied);
  const current = await readFile(sshKeyPaths(opts.hostname).cert, "utf8").catch(() => undefined);
  const until = current ? certValidBefore(current) : undefined;
  const held = until ? (until.getTime() > Date.now() ? `the current one is valid until ${until.toISOString()}` : `the last one expired at ${until.toISOString()}; ssh gets a new one`) : "none obtained yet";
  const principal = ssh?.principal ? `certificates name ${ssh.principal}, valid for ${Math.round(ssh.validForMs / 60_000)} min` : "the certificate's principal is unknown (no identity checked)";
  return pass(`the short-lived-certificate stanza in ${file} is what \`ssh-config\` prints; ${principal}; ${held}`);
}

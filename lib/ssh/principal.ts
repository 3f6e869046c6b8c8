// What an SSH certificate may name as its principal. sshd compares a principal with the
// login name (or lists it in AuthorizedPrincipalsFile) and splits nothing, but a name taken
// from an e-mail or a provider's claim is chosen by whoever signed in: `root@site.test` must
// not become a certificate for root, and `a,b@site.test` not one for two users.
import { isMailDomain } from "../net/dns-name.ts";

/**
 * A Unix user name as useradd and sshd take it: lower case, a letter or `_` first, then
 * letters, digits, `_`, `-` and `.` (for first.last), at most 32 characters.
 */
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/**
 * Accounts that belong to the system on Debian, Ubuntu, RHEL and macOS: a certificate for
 * one would let someone in as root or as a service. Names starting with `_` (macOS, newer
 * Debian system users) and `systemd-` count too.
 */
export const SYSTEM_ACCOUNTS: ReadonlySet<string> = new Set([
  "root", "toor", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
  "backup", "list", "irc", "gnats", "nobody", "nogroup", "sshd", "adm", "operator", "halt", "shutdown", "ftp", "messagebus",
  "syslog", "dbus", "polkitd", "postfix", "ntp", "chrony", "tss", "uuidd", "tcpdump", "dnsmasq", "avahi", "rpc", "rpcuser",
  "nfsnobody", "landscape", "pollinate", "lxd", "usbmux", "postgres", "mysql",
]);

/**
 * The default sudo users of cloud and board images. An admin may name one on purpose (a
 * service token's `--principal ubuntu`, a provider's claim); the local part of an e-mail
 * address may not: whoever signs in as ubuntu@anywhere must not become the machine's
 * administrator by the spelling of an address.
 */
export const IMAGE_ADMINS: ReadonlySet<string> = new Set(["ubuntu", "ec2-user", "admin", "centos", "rocky", "almalinux", "fedora", "debian", "opc", "azureuser", "cloud-user", "core", "pi", "vagrant"]);

export const isSystemAccount = (name: string) => SYSTEM_ACCOUNTS.has(name) || name.startsWith("_") || name.startsWith("systemd-");

const shown = (p: string) => JSON.stringify(p.length > 64 ? `${p.slice(0, 64)}…` : p);

/**
 * What an application allows beyond the rule: `allowSystem` lets a certificate name a system
 * account (`wicket edge app edit --allow-system-principals`). The user-name rule holds anyway.
 */
export type PrincipalOptions = { allowSystem?: boolean };

/** Why `name` cannot be a Unix user's principal, in one sentence; undefined when it can. */
export function userPrincipalProblem(name: string, opts: PrincipalOptions = {}): string | undefined {
  if (!USER_NAME.test(name)) return `${shown(name)} is not a Unix user name (lower-case letters, digits, "_", "-" and ".", starting with a letter or "_", at most 32), so no SSH certificate names it`;
  if (isSystemAccount(name) && !opts.allowSystem) return `${shown(name)} is a system account, and the edge issues no SSH certificates for system accounts`;
  return undefined;
}

/**
 * Why `email` cannot be an `email`-mode principal; undefined when it can. Its local part
 * follows the user-name rule (system accounts refused too, unless allowed: an
 * AuthorizedPrincipalsFile that maps `root@…` to root is the mistake this guards against) and
 * its domain is a DNS name.
 */
export function emailPrincipalProblem(email: string, opts: PrincipalOptions = {}): string | undefined {
  const at = email.lastIndexOf("@");
  if (at < 1 || !isMailDomain(email.slice(at + 1))) return `${shown(email)} is not an e-mail address an SSH certificate can name`;
  const local = userPrincipalProblem(email.slice(0, at), opts);
  return local && `the user part of ${shown(email)} is refused: ${local}`;
}

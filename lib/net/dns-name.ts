// The one rule for a DNS name, wherever wicket takes one: an application's hostname (`access
// --hostname`, `edge app add`, a tunnel's ingress rules and routes, a connector's claims), a
// zone, the name in a TLS ClientHello, an OAuth issuer's host, the domain of an e-mail
// principal. One rule, so that a name one part takes is a name every other part can match.

/** Letters, digits and "-" (neither first nor last), 1 to 63 of them. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * `raw` as a DNS name, lower case and without a trailing dot, or undefined when it is none.
 *
 * Valid: dot-separated labels of letters, digits and "-" (not first or last in a label), each
 * 1 to 63 characters, 253 in all; any case; one trailing dot (the root, `ssh.example.com.`),
 * dropped. A single label (`corp`, `localhost`) is a name: private DNS has zones like that.
 *
 * Not valid, anywhere: "_" (no public CA certifies a hostname with it, and TLS clients refuse
 * it in SNI, so an application by such a name could never be reached); "*" (a wildcard
 * application is `*.` and a zone, read as such where applications are added); an all-digit
 * last label (`10.0.0.1` is an IPv4 address, and no top-level domain is digits); spaces,
 * slashes, control and shell characters (names go into file names, headers and ssh_config).
 * Where a name must have a dot (an e-mail domain), the caller says so.
 */
export function dnsName(raw: string): string | undefined {
  const name = String(raw).trim().toLowerCase().replace(/\.$/, "");
  if (name.length === 0 || name.length > 253) return undefined;
  const labels = name.split(".");
  if (!labels.every((l) => LABEL.test(l)) || /^[0-9]+$/.test(labels.at(-1)!)) return undefined;
  return name;
}

/** The domain of an e-mail address: a DNS name in its normal form, with a dot (a mailbox at a
 * bare label is no one's outside one machine). */
export const isMailDomain = (domain: string): boolean => isDnsName(domain) && domain.includes(".");

/** Whether `name` is a DNS name already in its normal form (lower case, no trailing dot):
 * for names that arrive from the network and are looked up as they are. */
export const isDnsName = (name: string): boolean => dnsName(name) === name;

// Which origin serves a stream: one rule per hostname the connector claims, and a catch-all
// for any other (absent: the stream is refused).
import { usageError } from "../cli/exit.ts";
import { dnsName } from "../net/dns-name.ts";
import type { Origin } from "./origin.ts";

export interface Ingress {
  hostname: string;
  origin: Origin;
}

/** A hostname as the edge will match it: a DNS name (lib/net/dns-name.ts), lower case. */
export function parseIngressHostname(raw: string): string {
  const h = dnsName(raw);
  if (!h) {
    throw usageError(`"${raw}" is not a hostname; use a DNS name such as ssh.example.com`);
  }
  return h;
}

export function routeStream(rules: Ingress[], catchAll: Origin | undefined, host: string): Origin | undefined {
  return rules.find((r) => r.hostname === host)?.origin ?? catchAll;
}

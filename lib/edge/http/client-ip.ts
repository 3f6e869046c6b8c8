// The client's address: the TCP peer, unless the peer is a proxy listed in trusted_proxies,
// in which case the address that proxy put in X-Forwarded-For. A header from anyone else is
// ignored: anyone can write one, and the `ip:` policy rule must not be fooled by it.
import { configError } from "../../cli/exit.ts";
import { cidrSet, normalizeIp, parseCidr, type CidrSet } from "../../policy/cidr.ts";

export type TrustedProxies = CidrSet;

/** `10.0.0.0/8, 192.168.1.10, ::1` (a list or comma-separated text) as a set; a bad entry is a config error. */
export function parseTrustedProxies(input: string | readonly string[] | undefined): TrustedProxies {
  const items = (typeof input === "string" ? input.split(",") : (input ?? [])).map((s) => s.trim()).filter(Boolean);
  return cidrSet(
    items.map((item) => {
      const c = parseCidr(item);
      if (!c) throw configError(`trusted proxy "${item}" is not an IP address or CIDR range; write for example 10.0.0.0/8,192.168.1.10`);
      return c;
    }),
  );
}

/** One X-Forwarded-For entry as an address: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`, `2001:db8::1`. */
function entryAddress(entry: string): string | undefined {
  const e = entry.trim().replace(/^"|"$/g, "");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed) return normalizeIp(bracketed[1]);
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(e);
  return normalizeIp(v4port ? v4port[1] : e);
}

/**
 * The client's address. Walking X-Forwarded-For from the right (the entry the nearest proxy
 * added), each hop is believed only while the address that handed it on is a trusted proxy;
 * the first address that is not a trusted proxy is the client. A malformed entry stops the
 * walk at the last address known to be good.
 */
export function clientIp(peer: string, forwardedFor: string | null | undefined, trusted: TrustedProxies): string {
  let ip = normalizeIp(peer) ?? peer;
  if (!forwardedFor || trusted.size === 0) return ip;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0 && trusted.has(ip); i--) {
    const next = entryAddress(hops[i]!);
    if (!next) break;
    ip = next;
  }
  return ip;
}

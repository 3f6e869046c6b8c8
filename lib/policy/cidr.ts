// IP addresses and CIDR ranges, IPv4 and IPv6: what the `ip:` policy rule and the edge's
// `trusted_proxies` both match against.
import { BlockList, isIP } from "node:net";

export type Cidr = { address: string; prefix: number; family: "ipv4" | "ipv6" };

/** `10.0.0.0/8`, `2001:db8::/32` or a single address; undefined if malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = "", bits, extra] = text.trim().split("/");
  const v = isIP(address);
  if (!v || extra !== undefined) return undefined;
  const max = v === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address, prefix, family: v === 4 ? "ipv4" : "ipv6" };
}

/**
 * An address as the edge records it: IPv4-mapped IPv6 (`::ffff:10.1.2.3`, what a dual-stack
 * listener reports for an IPv4 peer) becomes plain IPv4; anything that is not an address
 * becomes undefined.
 */
export function normalizeIp(text: string | undefined | null): string | undefined {
  if (!text) return undefined;
  const s = text.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped && isIP(mapped[1]!) === 4) return mapped[1];
  return isIP(s) ? s.toLowerCase() : undefined;
}

/**
 * The part of an address that limits count by: an IPv4 address itself, an IPv6 address's
 * /64 (one subscriber holds a whole /64, so its 2^64 addresses are one client to a limit).
 */
export const addressGroup = (ip: string): string => addressGroupWithin(ip, 64);

/** `addressGroup` with an IPv6 client's share a shorter prefix than /64 (a home is often given a /56: 256 /64s). */
export function addressGroupWithin(ip: string, v6Prefix: number): string {
  if (isIP(ip) !== 6) return ip;
  let s = ip.toLowerCase().split("%")[0]!;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = (tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t]).map((g) => parseInt(g, 16));
  // an IPv4 client written as IPv6 (mapped, in any spelling, or through NAT64) is that IPv4 address
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  const mapped = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff;
  const nat64 = g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0;
  if (mapped || nat64) return [g6 >> 8, g6 & 255, g7 >> 8, g7 & 255].join(".");
  const bits = Math.max(0, Math.min(64, v6Prefix));
  // each of the first four 16-bit groups keeps its leading bits that lie within the prefix
  const kept = groups.slice(0, 4).map((g, i) => g & ((0xffff << (16 - Math.max(0, Math.min(16, bits - 16 * i)))) & 0xffff));
  return `${kept.map((g) => g.toString(16)).join(":")}::/${bits}`;
}

export type CidrSet = { has(ip: string | undefined): boolean; readonly size: number };

/** A set of ranges to test addresses against; `ranges` must already be valid (see parseCidr). */
export function cidrSet(ranges: readonly Cidr[]): CidrSet {
  const list = new BlockList();
  for (const r of ranges) list.addSubnet(r.address, r.prefix, r.family);
  return {
    size: ranges.length,
    has(ip) {
      const a = normalizeIp(ip);
      if (!a || ranges.length === 0) return false;
      return list.check(a, isIP(a) === 4 ? "ipv4" : "ipv6");
    },
  };
}

/** Whether `ip` lies in the range written as `cidr`; false for anything malformed. */
export function inRange(cidr: string, ip: string | undefined): boolean {
  const range = parseCidr(cidr);
  return range ? cidrSet([range]).has(ip) : false;
}

// Where the connector's connections go: every --edge URL, and every address its name
// resolves to, so that connections spread over edge nodes (connection i starts at target
// i and moves to the next one when its target fails or goes away).
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { CONNECT_PATH } from "../wire/http.ts";
import { unbracket } from "../net/address.ts";

export interface EdgeTarget {
  /** For logs: the URL, and the address when its name has several. */
  label: string;
  /** The WebSocket URL to dial. */
  wsUrl: string;
  /** When dialing one address of a name: TLS still verifies the name, and Host carries it. */
  servername?: string;
  host?: string;
}

export type Lookup = (hostname: string) => Promise<string[]>;

export const systemLookup: Lookup = async (hostname) => (await dnsLookup(hostname, { all: true })).map((a) => a.address);

export function connectUrl(edge: string): URL {
  const u = new URL(CONNECT_PATH, edge);
  u.protocol = u.protocol === "http:" || u.protocol === "ws:" ? "ws:" : "wss:";
  return u;
}

/** Resolved at every connection attempt, so a changed DNS record is followed. */
export async function resolveEdgeTargets(edges: string[], lookup: Lookup = systemLookup): Promise<EdgeTarget[]> {
  const out: EdgeTarget[] = [];
  for (const edge of edges) {
    const u = connectUrl(edge);
    const name = unbracket(u.hostname);
    let addresses: string[] = [];
    if (!isIP(name)) {
      try {
        addresses = [...new Set(await lookup(name))];
      } catch {
        // the WebSocket's own lookup will fail too, with a message that names the host
      }
    }
    if (addresses.length <= 1) {
      out.push({ label: edge, wsUrl: u.toString() });
      continue;
    }
    for (const a of addresses) {
      const byAddress = new URL(u);
      byAddress.hostname = isIP(a) === 6 ? `[${a}]` : a;
      out.push({ label: `${edge} (${a})`, wsUrl: byAddress.toString(), servername: name, host: u.host });
    }
  }
  return out;
}

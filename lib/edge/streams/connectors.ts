// Which connector connections serve which hostname, on this edge node.
import type { Mux } from "../../wire/mux.ts";
import type { ConnectorIdentity } from "./tunnel-claims.ts";

/** A registered connector connection: `id` is the connector process, `tunnel` the named
 * tunnel whose replicas share its hostnames' streams. */
export interface ConnectorConn {
  id: string;
  zone: string;
  hostnames: string[];
  tunnel: { id: string; name: string };
  who: ConnectorIdentity;
  mux: Mux;
  remote: string;
}

export function createConnectorRegistry() {
  const byHost = new Map<string, Set<ConnectorConn>>();
  return {
    add(c: ConnectorConn) {
      for (const h of c.hostnames) {
        let set = byHost.get(h);
        if (!set) byHost.set(h, (set = new Set()));
        set.add(c);
      }
    },
    remove(c: ConnectorConn) {
      for (const h of c.hostnames) {
        const set = byHost.get(h);
        set?.delete(c);
        if (set?.size === 0) byHost.delete(h);
      }
    },
    /** The live, not draining connection with the fewest open streams. */
    pick(hostname: string): ConnectorConn | undefined {
      let best: ConnectorConn | undefined;
      for (const c of byHost.get(hostname) ?? []) {
        if (c.mux.closed || c.mux.peerGoingAway) continue;
        if (!best || c.mux.streams.size < best.mux.streams.size) best = c;
      }
      return best;
    },
    all(): ConnectorConn[] {
      return [...new Set([...byHost.values()].flatMap((s) => [...s]))];
    },
    /** Connections that take new streams (not told to go away by their connector). */
    up(): number {
      return this.all().filter((c) => !c.mux.peerGoingAway).length;
    },
  };
}
export type ConnectorRegistry = ReturnType<typeof createConnectorRegistry>;

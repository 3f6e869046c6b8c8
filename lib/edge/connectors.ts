// Which connector connections serve which hostname, on this edge node.
import type { Session } from "../wire/mux.ts";

export interface ConnectorConn {
  id: string;
  zone: string;
  hostnames: string[];
  session: Session;
  remote: string;
}

export function createRegistry() {
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
        if (c.session.closed || c.session.peerGoingAway) continue;
        if (!best || c.session.streams.size < best.session.streams.size) best = c;
      }
      return best;
    },
    all(): ConnectorConn[] {
      return [...new Set([...byHost.values()].flatMap((s) => [...s]))];
    },
  };
}
export type Registry = ReturnType<typeof createRegistry>;

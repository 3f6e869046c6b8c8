// Which connector connections serve which hostname, on this edge node, and how many each
// tunnel, credential, zone and connector process holds: kept as counts when a connection comes
// or goes, so that a registration, a close or a limit check never walks every connection.
import type { Mux } from "../../wire/mux.ts";
import type { Inventory } from "../../store/index.ts";
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
  /** Its hello offered resumption (lib/tunnel/resumable.ts). */
  resume?: boolean;
}

/** The credential a connection presented: a tunnel's own, or a zone credential. */
export const credentialKey = (who: ConnectorIdentity) => (who.kind === "tunnel" ? who.tunnel.id : who.credential.id);

/** What the registry counts connections by. */
export type CountedBy = "tunnel" | "credential" | "zone" | "connector";
const keysOf = (c: ConnectorConn): Record<CountedBy, string> => ({ tunnel: c.tunnel.id, credential: credentialKey(c.who), zone: c.zone, connector: c.id });

export function createConnectors() {
  const conns = new Set<ConnectorConn>();
  /** Those whose connector said go-away: they finish their streams and take no new ones. */
  const goingAway = new Set<ConnectorConn>();
  const byHost = new Map<string, Set<ConnectorConn>>();
  const counts: Record<CountedBy, Map<string, number>> = { tunnel: new Map(), credential: new Map(), zone: new Map(), connector: new Map() };
  /** Per zone, its hostnames served here and by how many connections. */
  const zoneHosts = new Map<string, Map<string, number>>();
  const bump = (m: Map<string, number>, key: string, by: number) => {
    const n = (m.get(key) ?? 0) + by;
    if (n > 0) m.set(key, n);
    else m.delete(key);
  };
  return {
    add(c: ConnectorConn) {
      if (conns.has(c)) return;
      conns.add(c);
      if (c.mux.peerGoingAway) goingAway.add(c);
      const keys = keysOf(c);
      for (const k of Object.keys(counts) as CountedBy[]) bump(counts[k], keys[k], 1);
      let hosts = zoneHosts.get(c.zone);
      if (!hosts) zoneHosts.set(c.zone, (hosts = new Map()));
      for (const h of c.hostnames) {
        let set = byHost.get(h);
        if (!set) byHost.set(h, (set = new Set()));
        set.add(c);
        bump(hosts, h, 1);
      }
    },
    /** Takes a connection out (again: nothing happens). */
    remove(c: ConnectorConn) {
      if (!conns.delete(c)) return;
      goingAway.delete(c);
      const keys = keysOf(c);
      for (const k of Object.keys(counts) as CountedBy[]) bump(counts[k], keys[k], -1);
      const hosts = zoneHosts.get(c.zone);
      for (const h of c.hostnames) {
        const set = byHost.get(h);
        set?.delete(c);
        if (set?.size === 0) byHost.delete(h);
        if (hosts) bump(hosts, h, -1);
      }
      if (hosts?.size === 0) zoneHosts.delete(c.zone);
    },
    /** Its connector said go-away (the mux knows; this keeps the count). */
    goneAway(c: ConnectorConn) {
      if (conns.has(c)) goingAway.add(c);
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
    /** Connections of one tunnel, credential, zone or connector process here. */
    count(by: CountedBy, key: string): number {
      return counts[by].get(key) ?? 0;
    },
    /** How many hostnames of `zone` connections here serve, and how many of `more` it would add. */
    zoneHostnames(zone: string, more: readonly string[] = []): { served: number; added: number } {
      const hosts = zoneHosts.get(zone);
      return { served: hosts?.size ?? 0, added: new Set(more.filter((h) => !hosts?.has(h))).size };
    },
    /** Hostname -> connections that take new streams, and the connector processes among them that
     * take resumable ones: what the cluster's registry records. */
    hostnameCounts(): Inventory {
      const m: Inventory = new Map();
      for (const [h, set] of byHost) {
        let n = 0;
        const processes = new Set<string>();
        for (const c of set) {
          if (c.mux.peerGoingAway) continue;
          n++;
          if (c.resume) processes.add(c.id);
        }
        if (n > 0) m.set(h, { connections: n, processes: [...processes].sort() });
      }
      return m;
    },
    all(): ConnectorConn[] {
      return [...conns];
    },
    /** Connections registered here, and the connector processes they belong to. */
    size(): number {
      return conns.size;
    },
    connectors(): number {
      return counts.connector.size;
    },
    /** Connections that take new streams (not told to go away by their connector). */
    up(): number {
      return conns.size - goingAway.size;
    },
  };
}
export type Connectors = ReturnType<typeof createConnectors>;

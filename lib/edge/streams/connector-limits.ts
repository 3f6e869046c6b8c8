// How much one tunnel, one credential and one zone (a tenant) may hold on an edge node, and how
// fast a credential may register connections. A connection costs the node a socket, a file
// descriptor, a mux and its buffers (about 22 KiB), a place in every re-check and in the
// cluster's inventory; a registration costs a round of store reads and writes. Without these,
// one zone credential held 128 connections for each of its zone's 1,000 tunnels on every node.
// The checks read the registry's counts: none walks the node's connections.
import { fullBucket, refill, takeToken, waitMs, type Bucket, type BucketSpec } from "../signin/rate-limit.ts";
import { credentialKey, type Connectors } from "./connectors.ts";
import type { ConnectorIdentity } from "./tunnel-claims.ts";

/** Per edge node (each node of a cluster counts its own). An edge.yaml may change them under
 * `connector-limits:` (lib/edge/config/file.ts), for an edge that serves one big tenant. */
export type ConnectorLimits = {
  connectionsPerTunnel: number;
  connectionsPerCredential: number;
  connectionsPerZone: number;
  hostnamesPerZone: number;
};

export const CONNECTOR_LIMITS: ConnectorLimits = {
  // a tunnel's replicas and their HA connections (4 each), with room to spare
  connectionsPerTunnel: 128,
  // one cert.pem copied to a fleet: 128 servers with 4 connections each on one node; a bigger
  // fleet runs named tunnels, each with its own token (and its own count)
  connectionsPerCredential: 512,
  // a tenant with a thousand servers of 4 connections on one node: ~90 MiB and 4,096 descriptors,
  // so that a few tenants at their limit cannot take a node's whole descriptor table (65,536)
  connectionsPerZone: 4_096,
  // hostnames one tenant makes this node record in the cluster's registry (and re-check); a
  // server with its own hostname each, for as many servers as its connections allow
  hostnamesPerZone: 4_096,
};

/** Registrations of one credential on one node: every HA connection of a fleet at the limit
 * reconnecting at once (an edge restart) fits the burst; a loop that registers and drops
 * connections gets 32 a second, each a few store writes. */
export const REGISTRATIONS_PER_CREDENTIAL: BucketSpec = { capacity: 256, perMs: 8_000 };
/** Credentials whose registration buckets are kept; past this the least recent is forgotten. */
const MAX_TRACKED_CREDENTIALS = 10_000;

/** What a connection would hold: its credential, zone, tunnel (once claimed) and hostnames. */
export type Candidate = { who: ConnectorIdentity; zone: string; tunnel?: { id: string; name: string }; hostnames?: readonly string[] };

/** Why the node has no room for `c`, or undefined when it has: a sentence for the close reason. */
export function overCap(registry: Connectors, c: Candidate, limits: ConnectorLimits = CONNECTOR_LIMITS): string | undefined {
  if (c.tunnel && registry.count("tunnel", c.tunnel.id) >= limits.connectionsPerTunnel) {
    return `the tunnel ${c.tunnel.name} already has ${limits.connectionsPerTunnel} connections to this edge node, the most one tunnel may`;
  }
  // a tunnel's own credentials are the tunnel's: its count above is theirs
  if (c.who.kind !== "tunnel" && registry.count("credential", credentialKey(c.who)) >= limits.connectionsPerCredential) {
    return `this credential already has ${limits.connectionsPerCredential} connections to this edge node, the most one credential may`;
  }
  if (registry.count("zone", c.zone) >= limits.connectionsPerZone) {
    return `the zone ${c.zone} already has ${limits.connectionsPerZone} connector connections to this edge node, the most one zone may`;
  }
  const { served, added } = registry.zoneHostnames(c.zone, c.hostnames);
  if (added > 0 && served + added > limits.hostnamesPerZone) {
    return `the zone ${c.zone} would serve ${served + added} hostnames on this edge node; at most ${limits.hostnamesPerZone}`;
  }
  return undefined;
}

/** Registrations per credential: a token bucket each (REGISTRATIONS_PER_CREDENTIAL). */
export function createRegistrationLimiter(spec: BucketSpec = REGISTRATIONS_PER_CREDENTIAL, now = () => Date.now()) {
  const buckets = new Map<string, Bucket>();
  return {
    /** Takes a registration for `who`: 0, or the milliseconds until one may be taken. */
    take(who: ConnectorIdentity): number {
      const key = credentialKey(who);
      const t = now();
      const b = refill(buckets.get(key) ?? fullBucket(spec, t), spec, t);
      const wait = waitMs(b, spec);
      buckets.delete(key); // re-inserted last: the map's order is least recent first
      buckets.set(key, wait > 0 ? b : takeToken(b));
      if (buckets.size > MAX_TRACKED_CREDENTIALS) buckets.delete(buckets.keys().next().value!);
      return wait;
    },
  };
}

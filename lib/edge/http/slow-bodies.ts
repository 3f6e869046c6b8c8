// Requests waiting for their bodies. How fast a body arrives is up to its sender, and one byte
// every two seconds keeps a connection open, so a request leaves the requests in progress
// (lib/edge/http/handshakes.ts) while its body arrives and waits here instead. This pool is
// small, and a newcomer is never refused: when its address has its share, that address's oldest
// waiting request is dropped (408); when the edge's share is full, the oldest of anyone's.
// Nearly every body is in the packet after its headers and waits here for a moment; a body that
// dribbles is the oldest soon and the first to go. A request whose body is in is counted among
// the requests in progress again until it is answered. A sender the edge has verified first (an
// admin's token, an allowed client's certificate request) keeps its place instead of waiting here.
//
// Both maps hold only requests waiting now: an address is forgotten with its last one.

import { addressGroup } from "../../policy/cidr.ts";

export type SlowBodyLimits = { perAddress: number; total: number };

/** A sign-in form or a token request is a few hundred bytes and waits here for one round trip,
 * so 32 at once is more than a NAT full of people signing in; 512 at the form limit (16 KiB)
 * buffer 8 MiB at most. An attacker who keeps the pool full only drops their own requests and
 * slow ones: a body sent at once is in before 512 newer requests could push it out. */
export const SLOW_BODY_LIMITS: SlowBodyLimits = { perAddress: 32, total: 512 };

/** Verified senders' bodies, per sender (a credential or an identity) instead of per address:
 * 16 at once is more than a CLI or a script sends in parallel, and a tenant who dribbles only
 * drops its own oldest. */
export const VERIFIED_BODY_LIMITS: SlowBodyLimits = { perAddress: 16, total: 512 };

type Waiter = { ip: string; drop(): void };

export type SlowBodies = {
  limits: SlowBodyLimits;
  /** Oldest first (a Set iterates in insertion order). */
  all: Set<Waiter>;
  byAddress: Map<string, Waiter[]>;
  /** Requests dropped since start because the edge's share was full / because their address's was. */
  shed: { edge: number; address: number };
  /** When the edge last dropped a request because its share was full (ms since the epoch). */
  shedAt: number;
  /** When the edge starts dropping requests because its share is full, after SHEDDING_MS without. */
  onShedding?(): void;
};

/** The edge is "shedding" (its share full, the oldest dropped for newcomers) until this long
 * after its last drop: long enough for a probe every few seconds to see it. */
export const SHEDDING_MS = 10_000;

export const shedding = (p: SlowBodies, now = Date.now()) => p.shedAt > 0 && now - p.shedAt < SHEDDING_MS;

export const createSlowBodies = (limits: SlowBodyLimits = SLOW_BODY_LIMITS, onShedding?: () => void): SlowBodies => ({
  limits,
  all: new Set(),
  byAddress: new Map(),
  shed: { edge: 0, address: 0 },
  shedAt: 0,
  onShedding,
});

function remove(p: SlowBodies, w: Waiter): boolean {
  if (!p.all.delete(w)) return false;
  const mine = p.byAddress.get(w.ip)!;
  mine.splice(mine.indexOf(w), 1);
  if (mine.length === 0) p.byAddress.delete(w.ip);
  return true;
}

/** `address`'s request waits for its body; `drop` ends that wait when a newcomer needs the place.
 * Returns the call that ends the wait (safe twice, and after a drop). */
export function waitForBody(p: SlowBodies, address: string, drop: () => void): () => void {
  const ip = addressGroup(address);
  const oldestOfAddress = p.byAddress.get(ip)?.[0];
  if (oldestOfAddress && p.byAddress.get(ip)!.length >= p.limits.perAddress) {
    remove(p, oldestOfAddress);
    p.shed.address++;
    oldestOfAddress.drop();
  } else if (p.all.size >= p.limits.total) {
    const oldest = p.all.values().next().value!;
    remove(p, oldest);
    p.shed.edge++;
    if (!shedding(p)) p.onShedding?.();
    p.shedAt = Date.now();
    oldest.drop();
  }
  const w: Waiter = { ip, drop };
  p.all.add(w);
  const mine = p.byAddress.get(ip);
  if (mine) mine.push(w);
  else p.byAddress.set(ip, [w]);
  return () => void remove(p, w);
}

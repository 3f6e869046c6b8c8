// How many denials from one client address reach the audit. Anyone can be denied, as often
// as they can send a request, and each denial is a row kept for months and a write that holds
// the store's lock: past a few a minute from one address, denials are only counted, and the
// count goes into the audit with that address's next recorded denial. Past the edge's share of
// rows a minute, each network (an IPv4 address, an IPv6 /48) still gets one row, which says so,
// and the rest of its denials are counted the same way: junk from some addresses cannot leave
// everyone else's denials unrecorded, while an attacker who spreads over the 65,536 /64s of one
// /48 writes one row more, not 65,536.

import { addressGroup } from "../../policy/cidr.ts";

export interface DenialLimits {
  /** Denial rows per address per window. */
  perAddress: number;
  windowMs: number;
  /** Addresses followed at once; a new address past this is only counted until windows end. */
  maxAddresses: number;
  /** Denial rows from everyone per window: many addresses (an IPv6 prefix) get no more. */
  total: number;
}

export const DEFAULT_DENIAL_LIMITS: DenialLimits = { perAddress: 30, windowMs: 60_000, maxAddresses: 10_000, total: 600 };

/** Whether to write this denial, how many from the address went unwritten before it, and
 * (`network`) whether it is its network's one row past the edge's share. */
export type DenialVerdict = { record: true; suppressedBefore: number; network?: string } | { record: false };

/** The network a denial's one row past the edge's share is counted for: an IPv6 /48 (what a
 * provider gives one customer), else the address group itself (an IPv4 address, a credential). */
export function networkOf(group: string): string {
  const v6 = /^([0-9a-f]+:[0-9a-f]+:[0-9a-f]+):[0-9a-f]+::\/64$/.exec(group);
  return v6 ? `${v6[1]}::/48` : group;
}

type Window = { start: number; recorded: number; suppressed: number };

export function createDenialLimiter(limits: DenialLimits = DEFAULT_DENIAL_LIMITS, now = () => Date.now()) {
  const windows = new Map<string, Window>();
  let all = { start: now(), recorded: 0, networks: new Set<string>() };
  let suppressedTotal = 0;

  function forget(t: number) {
    // an ended window's held-back count is dropped with it: the metric still has it
    for (const [ip, w] of windows) if (t - w.start >= limits.windowMs) windows.delete(ip);
  }

  return {
    admit(address: string): DenialVerdict {
      const ip = addressGroup(address);
      const t = now();
      if (t - all.start >= limits.windowMs) all = { start: t, recorded: 0, networks: new Set() };
      if (all.recorded >= limits.total) {
        const network = networkOf(ip);
        if (!all.networks.has(network) && all.networks.size < limits.maxAddresses) {
          const verdict = admitAddress(ip, t);
          if (!verdict.record) return verdict;
          all.networks.add(network);
          return { ...verdict, network };
        }
        suppressedTotal++;
        const w = windows.get(ip);
        if (w && t - w.start < limits.windowMs) w.suppressed++;
        return { record: false };
      }
      const verdict = admitAddress(ip, t);
      if (verdict.record) all.recorded++;
      return verdict;
    },
    /** Denials not written since start. */
    suppressed: () => suppressedTotal,
  };

  function admitAddress(ip: string, t: number): DenialVerdict {
    let w = windows.get(ip);
    if (w && t - w.start >= limits.windowMs) {
      // a new window; what the last one held back is reported with this denial
      const suppressedBefore = w.suppressed;
      windows.set(ip, { start: t, recorded: 1, suppressed: 0 });
      return { record: true, suppressedBefore };
    }
    if (!w) {
      if (windows.size >= limits.maxAddresses) forget(t);
      if (windows.size >= limits.maxAddresses) {
        suppressedTotal++;
        return { record: false };
      }
      windows.set(ip, (w = { start: t, recorded: 0, suppressed: 0 }));
    }
    if (w.recorded < limits.perAddress) {
      w.recorded++;
      return { record: true, suppressedBefore: 0 };
    }
    w.suppressed++;
    suppressedTotal++;
    return { record: false };
  }
}

export type DenialLimiter = ReturnType<typeof createDenialLimiter>;

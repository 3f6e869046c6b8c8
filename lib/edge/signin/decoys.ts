// PINs "sent" to mailboxes that no policy or zone names (lib/edge/signin/recipients.ts):
// nothing is mailed and nothing is written, but the answers are those a real PIN gets — the
// page that says it was sent, a PIN id of the same shape, "wrong, n tries left" for each guess,
// locked after five, expired after its lifetime, too many for one mailbox after five — so the
// pages do not tell anyone which mailboxes a policy names. Held in memory, a bounded number,
// the oldest forgotten first; a forgotten one (or one asked of another edge node) answers as a
// PIN that is not valid, as an unknown id does.
import { randomId } from "../../auth/secret.ts";
import { PIN_ATTEMPTS, type PinResult } from "../../store/index.ts";

/** Decoys held at most: each is a few hundred bytes, and each cost its requester a PIN request. */
export const MAX_DECOYS = 10_000;

export type Decoy = { email: string; createdAt: number; expiresAt: number; attempts: number };
export type Decoys = { now: () => number; max: number; pins: Map<string, Decoy> };

export function createDecoys(o: { now?: () => number; max?: number } = {}): Decoys {
  return { now: o.now ?? Date.now, max: o.max ?? MAX_DECOYS, pins: new Map() };
}

/** A decoy PIN for `email`, lasting `lifetimeMs`; its id looks like a real PIN's. */
export function makeDecoy(d: Decoys, email: string, lifetimeMs: number): { id: string } {
  const id = randomId("wkp_", 12);
  const now = d.now();
  d.pins.set(id, { email, createdAt: now, expiresAt: now + lifetimeMs, attempts: 0 });
  if (d.pins.size > d.max) d.pins.delete(d.pins.keys().next().value!);
  return { id };
}

/** Decoys made for `email` since `since`, as countRecentPins counts real ones. */
export function recentDecoys(d: Decoys, email: string, since: number): number {
  let n = 0;
  for (const p of d.pins.values()) if (p.email === email && p.createdAt > since) n++;
  return n;
}

/** What a guess at PIN `id` gets if it is a decoy (never right, counted as verifyPin counts); undefined if it is not one. */
export function guessDecoy(d: Decoys, id: string): PinResult | undefined {
  const p = d.pins.get(id);
  if (!p) return undefined;
  if (p.attempts >= PIN_ATTEMPTS) return { ok: false, why: "locked" };
  if (p.expiresAt <= d.now()) return { ok: false, why: "expired" };
  p.attempts++;
  const left = PIN_ATTEMPTS - p.attempts;
  return left > 0 ? { ok: false, why: "wrong", left, email: p.email } : { ok: false, why: "locked" };
}

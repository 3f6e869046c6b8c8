// Limits on the anonymous sign-in endpoints an attacker can drive with nothing but network
// access: PIN requests (each one a mail through our SMTP), PIN guesses and device codes. Each
// has a token bucket per client address and one for the whole edge; failed guesses add an
// exponential back-off per address. All of it lives in memory, with the number of tracked
// addresses capped, so a refused request costs no store write. The buckets are pure and take
// the time as an argument; `createSignInLimits` only holds the state and the clock.
import type { Counter } from "../../metrics/registry.ts";
import { addressGroup } from "../../policy/cidr.ts";

const MINUTE = 60_000;

/** `capacity` tokens, refilled evenly over `perMs`: a burst of `capacity`, then that rate. */
export type BucketSpec = { capacity: number; perMs: number };
export type Limit = { perAddress: BucketSpec; global: BucketSpec };
export type Endpoint = "pin_request" | "pin_guess" | "device_code" | "oidc_start";

/**
 * Limits a person never meets, chosen with the PIN length (lib/store/sign-in.ts) so that
 * guessing stays hopeless: at most 300 guesses a minute reach the store, from any number of
 * addresses (see the README's Security section for the arithmetic).
 */
export const SIGN_IN_LIMITS: Record<Endpoint, Limit> = {
  pin_request: { perAddress: { capacity: 5, perMs: 10 * MINUTE }, global: { capacity: 100, perMs: MINUTE } },
  pin_guess: { perAddress: { capacity: 10, perMs: 10 * MINUTE }, global: { capacity: 300, perMs: MINUTE } },
  device_code: { perAddress: { capacity: 20, perMs: 10 * MINUTE }, global: { capacity: 120, perMs: MINUTE } },
  // each start is a row kept for 10 minutes, so the edge holds at most ~6,000 at once; an
  // office behind one address signs in of a morning
  oidc_start: { perAddress: { capacity: 300, perMs: 10 * MINUTE }, global: { capacity: 600, perMs: MINUTE } },
};

/** Wrong guesses an address makes freely (one PIN's worth); each further one doubles the wait, from 1 s up to 15 min. */
export const GUESS_BACKOFF = { free: 5, firstMs: 1_000, maxMs: 15 * MINUTE, forgetMs: 15 * MINUTE };

/** Addresses tracked per bucket kind; past this the least recently seen is forgotten. */
export const MAX_TRACKED_ADDRESSES = 10_000;

export type Bucket = { tokens: number; at: number };

export const fullBucket = (spec: BucketSpec, now: number): Bucket => ({ tokens: spec.capacity, at: now });

/** The bucket as of `now`: refilled for the time since it was last seen. */
export function refill(b: Bucket, spec: BucketSpec, now: number): Bucket {
  const tokens = Math.min(spec.capacity, b.tokens + (Math.max(0, now - b.at) * spec.capacity) / spec.perMs);
  return { tokens, at: Math.max(now, b.at) };
}

/** Milliseconds until the (refilled) bucket holds a whole token; 0 when it does now. */
export function waitMs(b: Bucket, spec: BucketSpec): number {
  return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) * spec.perMs) / spec.capacity);
}

export const takeToken = (b: Bucket): Bucket => ({ tokens: b.tokens - 1, at: b.at });

/** Failed guesses from one address, and until when it must wait. */
export type Failures = { count: number; at: number; until: number };

/** The record after one more failed guess at `now`. */
export function failedGuess(f: Failures | undefined, now: number, o = GUESS_BACKOFF): Failures {
  const count = (f && now - f.at < o.forgetMs ? f.count : 0) + 1;
  const beyond = count - o.free;
  const wait = beyond > 0 ? Math.min(o.maxMs, o.firstMs * 2 ** Math.min(beyond - 1, 30)) : 0;
  return { count, at: now, until: now + wait };
}

/** A Map that forgets its least recently used entry beyond `max`. */
function remember<V>(m: Map<string, V>, key: string, value: V, max: number) {
  m.delete(key);
  m.set(key, value);
  if (m.size > max) m.delete(m.keys().next().value!);
}

export type SignInLimits = {
  now: () => number;
  limits: Record<Endpoint, Limit>;
  maxAddresses: number;
  global: Record<Endpoint, Bucket>;
  addresses: Record<Endpoint, Map<string, Bucket>>;
  failures: Map<string, Failures>;
  /** Refusals, by endpoint (`wicket_edge_rate_limited_total`). */
  refused?: Counter;
};

export function createSignInLimits(o: { refused?: Counter; now?: () => number; limits?: Record<Endpoint, Limit>; maxAddresses?: number } = {}): SignInLimits {
  const now = o.now ?? Date.now;
  const limits = o.limits ?? SIGN_IN_LIMITS;
  const t = now();
  return {
    now,
    limits,
    maxAddresses: o.maxAddresses ?? MAX_TRACKED_ADDRESSES,
    global: { pin_request: fullBucket(limits.pin_request.global, t), pin_guess: fullBucket(limits.pin_guess.global, t), device_code: fullBucket(limits.device_code.global, t), oidc_start: fullBucket(limits.oidc_start.global, t) },
    addresses: { pin_request: new Map(), pin_guess: new Map(), device_code: new Map(), oidc_start: new Map() },
    failures: new Map(),
    refused: o.refused,
  };
}

/**
 * Lets one request from `ip` to `endpoint` through, taking a token from its address's bucket
 * and from the edge's, and answers 0; or, when either is empty or the address is backing off
 * after wrong guesses, takes nothing and answers the milliseconds to wait.
 */
export function admit(l: SignInLimits, endpoint: Endpoint, address: string): number {
  const ip = addressGroup(address);
  const now = l.now();
  const spec = l.limits[endpoint];
  const mine = refill(l.addresses[endpoint].get(ip) ?? fullBucket(spec.perAddress, now), spec.perAddress, now);
  const all = refill(l.global[endpoint], spec.global, now);
  const backoff = endpoint === "pin_guess" ? Math.max(0, (l.failures.get(ip)?.until ?? 0) - now) : 0;
  const wait = Math.max(backoff, waitMs(mine, spec.perAddress), waitMs(all, spec.global));
  if (wait > 0) {
    l.refused?.inc({ endpoint });
    return wait;
  }
  remember(l.addresses[endpoint], ip, takeToken(mine), l.maxAddresses);
  l.global[endpoint] = takeToken(all);
  return 0;
}

/** A guess from `ip` was wrong (or for a PIN that cannot be used): the back-off grows. */
export function guessFailed(l: SignInLimits, address: string): void {
  const ip = addressGroup(address);
  remember(l.failures, ip, failedGuess(l.failures.get(ip), l.now()), l.maxAddresses);
}

/** A guess from `ip` was right: its back-off is forgotten. */
export function guessSucceeded(l: SignInLimits, address: string): void {
  l.failures.delete(addressGroup(address));
}

/** The Retry-After header's value (whole seconds, at least 1) for a wait. */
export const retryAfter = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

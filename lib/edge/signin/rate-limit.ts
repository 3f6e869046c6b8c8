// Limits on the sign-in endpoints: PIN requests (each one a mail through our SMTP), PIN
// guesses, device codes, OpenID Connect starts, and the user codes a signed-in person types.
// Each has a token bucket per client address (an IPv6 client's /56), and user codes one per
// sign-in session too; failed PIN guesses add an exponential back-off per address. None is
// shared by the whole edge, so a flood from other addresses never refuses an address that has
// not used its share; what a flood truly costs is bounded where it is kept (a cap on pending
// device codes, OpenID Connect starts and PINs, oldest first out; PINs mailed only to mailboxes
// a policy or a zone names). The one edge-wide bucket is for mail no policy names any more
// narrowly than "anyone" (`open_mail`). All of it lives in memory, with the number of tracked
// clients capped, so a refused request costs no store write. The buckets are pure and take the
// time as an argument; `createSignInLimits` only holds the state and the clock.
import type { Counter } from "../../metrics/registry.ts";
import { addressGroupWithin } from "../../policy/cidr.ts";

const MINUTE = 60_000;

/** `capacity` tokens, refilled evenly over `perMs`: a burst of `capacity`, then that rate. */
export type BucketSpec = { capacity: number; perMs: number };
export type Limit = { perAddress?: BucketSpec; perSession?: BucketSpec; global?: BucketSpec };
export type Endpoint = "pin_request" | "open_mail" | "pin_guess" | "device_code" | "oidc_start" | "user_code" | "workload_exchange";
const ENDPOINTS: readonly Endpoint[] = ["pin_request", "open_mail", "pin_guess", "device_code", "oidc_start", "user_code", "workload_exchange"];

/**
 * An IPv6 client's share is its /56, not its /64: a home or small office is commonly given a
 * /56 (256 /64s), which would otherwise be 256 clients to a sign-in limit. Other limits on the
 * edge keep the /64.
 */
export const SIGN_IN_V6_PREFIX = 56;

/**
 * Limits a person never meets, chosen with the PIN length (lib/store/sign-in-starts.ts) and the
 * user code's (lib/store/device-codes.ts) so that guessing stays hopeless: a PIN takes five
 * tries and a mailbox five PINs in 15 minutes (lib/edge/signin/routes.ts), so a mailbox's PINs
 * meet at most 25 guesses in 15 minutes, however many addresses send them (see the README's
 * Security section for the arithmetic).
 */
export const SIGN_IN_LIMITS = {
  // a mail each; a person asks for one, maybe two
  pin_request: { perAddress: { capacity: 5, perMs: 10 * MINUTE } },
  // mail to a mailbox that only an `everyone`-like rule lets in (anyone's): the one edge-wide
  // bound left, for the one cost no policy bounds; a mailbox a policy names never meets it, and
  // one it refuses is answered as any other, its PIN kept but not mailed (routes.ts `sendPin`)
  open_mail: { global: { capacity: 100, perMs: MINUTE } },
  // the back-off (GUESS_BACKOFF) and five tries per PIN do the work; this bounds store reads
  pin_guess: { perAddress: { capacity: 10, perMs: 10 * MINUTE } },
  // each is a row, and the rows are capped (MAX_PENDING_DEVICE_CODES, oldest out first)
  device_code: { perAddress: { capacity: 20, perMs: 10 * MINUTE } },
  // each start is a row kept for 10 minutes, capped (MAX_PENDING_OIDC_LOGINS); an office
  // behind one address signs in of a morning
  oidc_start: { perAddress: { capacity: 300, perMs: 10 * MINUTE } },
  // codes a signed-in person types that match no live code (RFC 8628 5.1); a code found is
  // given back, so a person typing their own never meets it. 20^8 codes and at most 10,000
  // pending: even then a guess hits one in 2.6 million, and a session's 1,440 a day one in 1,800
  user_code: { perSession: { capacity: 10, perMs: 10 * MINUTE }, perAddress: { capacity: 30, perMs: 10 * MINUTE } },
  // an ID token exchanged for an app token (issue 29): a signature check and, at most, a fetch
  // of the issuer's keys; a CI fleet behind one address exchanges one per job step
  workload_exchange: { perAddress: { capacity: 300, perMs: MINUTE } },
} satisfies Record<Endpoint, Limit>;

/** Wrong guesses an address makes freely (one PIN's worth); each further one doubles the wait, from 1 s up to 15 min. */
export const GUESS_BACKOFF = { free: 5, firstMs: 1_000, maxMs: 15 * MINUTE, forgetMs: 15 * MINUTE };

/** Clients (addresses, sessions) tracked per bucket kind; past this the least recently seen is forgotten. */
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
  global: Partial<Record<Endpoint, Bucket>>;
  addresses: Record<Endpoint, Map<string, Bucket>>;
  sessions: Record<Endpoint, Map<string, Bucket>>;
  failures: Map<string, Failures>;
  /** Refusals, by endpoint (`wicket_edge_rate_limited_total`). */
  refused?: Counter;
};

const perEndpoint = <V>(make: () => V) => Object.fromEntries(ENDPOINTS.map((e) => [e, make()])) as Record<Endpoint, V>;

export function createSignInLimits(o: { refused?: Counter; now?: () => number; limits?: Record<Endpoint, Limit>; maxAddresses?: number } = {}): SignInLimits {
  const now = o.now ?? Date.now;
  const limits: Record<Endpoint, Limit> = o.limits ?? SIGN_IN_LIMITS;
  const t = now();
  const global: Partial<Record<Endpoint, Bucket>> = {};
  for (const e of ENDPOINTS) {
    const g = limits[e].global;
    if (g) global[e] = fullBucket(g, t);
  }
  return {
    now,
    limits,
    maxAddresses: o.maxAddresses ?? MAX_TRACKED_ADDRESSES,
    global,
    addresses: perEndpoint(() => new Map()),
    sessions: perEndpoint(() => new Map()),
    failures: new Map(),
    refused: o.refused,
  };
}

/** The client's share of the sign-in limits: its IPv4 address, or its IPv6 /56. */
export const clientGroup = (address: string) => addressGroupWithin(address, SIGN_IN_V6_PREFIX);

/** The buckets one request draws on, each as of now: the address's, the session's, the edge's. */
function bucketsFor(l: SignInLimits, endpoint: Endpoint, address: string, session: string | undefined, now: number) {
  const spec = l.limits[endpoint];
  const out: { spec: BucketSpec; bucket: Bucket; save: (b: Bucket) => void }[] = [];
  const keyed = (s: BucketSpec | undefined, m: Map<string, Bucket>, key: string | undefined) => {
    if (!s || key === undefined) return;
    out.push({ spec: s, bucket: refill(m.get(key) ?? fullBucket(s, now), s, now), save: (b) => remember(m, key, b, l.maxAddresses) });
  };
  keyed(spec.perAddress, l.addresses[endpoint], clientGroup(address));
  keyed(spec.perSession, l.sessions[endpoint], session);
  const g = spec.global;
  if (g) out.push({ spec: g, bucket: refill(l.global[endpoint] ?? fullBucket(g, now), g, now), save: (b) => (l.global[endpoint] = b) });
  return out;
}

/**
 * Lets one request from `address` (and, where the endpoint counts them, sign-in `session`) to
 * `endpoint` through, taking a token from each of its buckets, and answers 0; or, when one is
 * empty or the address is backing off after wrong guesses, takes nothing and answers the
 * milliseconds to wait.
 */
export function admit(l: SignInLimits, endpoint: Endpoint, address: string, session?: string): number {
  const now = l.now();
  const buckets = bucketsFor(l, endpoint, address, session, now);
  const backoff = endpoint === "pin_guess" ? Math.max(0, (l.failures.get(clientGroup(address))?.until ?? 0) - now) : 0;
  const wait = Math.max(backoff, ...buckets.map((b) => waitMs(b.bucket, b.spec)));
  if (wait > 0) {
    l.refused?.inc({ endpoint });
    return wait;
  }
  for (const b of buckets) b.save(takeToken(b.bucket));
  return 0;
}

/** Gives back the token `admit` took, for a request that turned out to cost nothing (a user code that was found). */
export function giveBack(l: SignInLimits, endpoint: Endpoint, address: string, session?: string): void {
  for (const b of bucketsFor(l, endpoint, address, session, l.now())) b.save({ tokens: Math.min(b.spec.capacity, b.bucket.tokens + 1), at: b.bucket.at });
}

/** A guess from `ip` was wrong (or for a PIN that cannot be used): the back-off grows. */
export function guessFailed(l: SignInLimits, address: string): void {
  const ip = clientGroup(address);
  remember(l.failures, ip, failedGuess(l.failures.get(ip), l.now()), l.maxAddresses);
}

/** A guess from `ip` was right: its back-off is forgotten. */
export function guessSucceeded(l: SignInLimits, address: string): void {
  l.failures.delete(clientGroup(address));
}

/** The Retry-After header's value (whole seconds, at least 1) for a wait. */
export const retryAfter = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

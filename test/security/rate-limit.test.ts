// The sign-in limits on their own: token buckets and the guess back-off, with a clock the
// test moves by hand.
import { describe, expect, test } from "bun:test";
import { createRegistry } from "../../lib/metrics/registry.ts";
import { addressGroup, addressGroupWithin } from "../../lib/policy/cidr.ts";
import { boundedLog, log, setupLog } from "../../lib/cli/log.ts";
import {
  admit,
  createSignInLimits,
  failedGuess,
  fullBucket,
  giveBack,
  GUESS_BACKOFF,
  guessFailed,
  guessSucceeded,
  refill,
  retryAfter,
  SIGN_IN_LIMITS,
  takeToken,
  waitMs,
  type Endpoint,
  type Failures,
  type Limit,
} from "../../lib/edge/signin/rate-limit.ts";

const spec = { capacity: 5, perMs: 10_000 }; // a token every 2 s

/** Limits with the clock at `clock.t`, and the same small bucket on every endpoint. */
function limits(o: { perAddress?: typeof spec; perSession?: typeof spec; global?: typeof spec; maxAddresses?: number } = {}) {
  const clock = { t: 1_000_000 };
  const limit: Limit = { perAddress: o.perAddress ?? spec, perSession: o.perSession, global: o.global };
  const all = { pin_request: limit, open_mail: limit, pin_guess: limit, device_code: limit, oidc_start: limit, user_code: limit, workload_exchange: limit } satisfies Record<Endpoint, Limit>;
  const refused = createRegistry().counter("refused_total", "refusals");
  return { clock, refused, l: createSignInLimits({ now: () => clock.t, limits: all, refused, maxAddresses: o.maxAddresses }) };
}

describe("a token bucket", () => {
  test("holds its capacity, empties one token at a time, and says how long until the next", () => {
    let b = fullBucket(spec, 0);
    for (let i = 0; i < 5; i++) {
      expect(waitMs(b, spec)).toBe(0);
      b = takeToken(b);
    }
    expect(waitMs(b, spec)).toBe(2_000);
    b = refill(b, spec, 1_500);
    expect(waitMs(b, spec)).toBe(500);
    b = refill(b, spec, 2_000);
    expect(waitMs(b, spec)).toBe(0);
  });

  test("refills no higher than its capacity, and a clock that goes back adds nothing", () => {
    const b = refill(takeToken(fullBucket(spec, 0)), spec, 1_000_000);
    expect(b.tokens).toBe(5);
    const back = refill({ tokens: 0, at: 5_000 }, spec, 1_000);
    expect(back).toEqual({ tokens: 0, at: 5_000 });
  });
});

describe("admit", () => {
  test("refuses an address past its share with the wait, takes nothing when it refuses, and counts the refusal", () => {
    const { clock, refused, l } = limits();
    for (let i = 0; i < 5; i++) expect(admit(l, "pin_request", "192.0.2.1")).toBe(0);
    expect(admit(l, "pin_request", "192.0.2.1")).toBe(2_000);
    expect(admit(l, "pin_request", "192.0.2.1")).toBe(2_000);
    expect(refused.get({ endpoint: "pin_request" })).toBe(2);
    expect(admit(l, "pin_request", "192.0.2.2")).toBe(0); // another address has its own bucket
    expect(admit(l, "device_code", "192.0.2.1")).toBe(0); // and each endpoint its own
    clock.t += 2_000;
    expect(admit(l, "pin_request", "192.0.2.1")).toBe(0);
  });

  // Failed before: each endpoint had an edge-wide bucket too, and 20 to 120 addresses emptied it
  // for everyone: no one could get a PIN or start a device flow.
  test("on the edge's own limits, an address that has not used its share is admitted however many others spent theirs", () => {
    const l = createSignInLimits({ now: () => 1_000_000 });
    for (const endpoint of ["pin_request", "pin_guess", "device_code", "oidc_start"] as const) {
      const share = SIGN_IN_LIMITS[endpoint].perAddress.capacity;
      for (let a = 0; a < 1_000; a++) for (let i = 0; i < share; i++) admit(l, endpoint, `10.0.${a >> 8}.${a & 255}`);
      expect({ endpoint, wait: admit(l, endpoint, "198.51.100.1") }).toEqual({ endpoint, wait: 0 });
    }
  });

  test("an edge-wide bucket, where one is set (mail to anyone's mailbox), refuses everyone once empty", () => {
    const { l } = limits({ global: { capacity: 3, perMs: 60_000 } });
    for (let i = 0; i < 3; i++) expect(admit(l, "open_mail", `192.0.2.${i}`)).toBe(0);
    expect(admit(l, "open_mail", "198.51.100.1")).toBe(20_000);
    expect(Object.keys(createSignInLimits().global)).toEqual(["open_mail"]); // the only one the edge sets
  });

  test("a session's bucket holds a session back wherever it comes from, and its address's holds every session there; a token given back is spent again", () => {
    const { l } = limits({ perSession: { capacity: 2, perMs: 60_000 }, perAddress: { capacity: 3, perMs: 60_000 } });
    expect([admit(l, "user_code", "192.0.2.1", "s1"), admit(l, "user_code", "192.0.2.1", "s1")]).toEqual([0, 0]);
    expect(admit(l, "user_code", "198.51.100.1", "s1")).toBeGreaterThan(0); // the session, from elsewhere
    expect(admit(l, "user_code", "192.0.2.1", "s2")).toBe(0);
    expect(admit(l, "user_code", "192.0.2.1", "s3")).toBeGreaterThan(0); // the address's third was the last
    giveBack(l, "user_code", "192.0.2.1", "s2");
    expect(admit(l, "user_code", "192.0.2.1", "s3")).toBe(0);
    giveBack(l, "user_code", "198.51.100.9", "s9"); // never past a full bucket
    expect(l.addresses.user_code.get("198.51.100.9")!.tokens).toBe(3);
  });

  test("tracks at most maxAddresses, forgetting the least recently seen", () => {
    const { l } = limits({ maxAddresses: 3 });
    for (let i = 0; i < 5; i++) admit(l, "pin_request", "192.0.2.1");
    for (const ip of ["192.0.2.2", "192.0.2.3", "192.0.2.4"]) admit(l, "pin_request", ip);
    expect([...l.addresses.pin_request.keys()]).toEqual(["192.0.2.2", "192.0.2.3", "192.0.2.4"]);
    for (let i = 0; i < 50; i++) guessFailed(l, `203.0.113.${i}`);
    expect(l.failures.size).toBe(3);
  });
});

describe("the guess back-off", () => {
  test("lets the free wrong guesses through, then doubles the wait with each further one, up to the cap", () => {
    let f: Failures | undefined;
    const waits: number[] = [];
    for (let i = 0; i < 30; i++) {
      f = failedGuess(f, 0);
      waits.push(f.until - f.at);
    }
    expect(waits.slice(0, GUESS_BACKOFF.free)).toEqual(Array(GUESS_BACKOFF.free).fill(0));
    expect(waits.slice(GUESS_BACKOFF.free, GUESS_BACKOFF.free + 4)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(waits.at(-1)).toBe(GUESS_BACKOFF.maxMs);
  });

  test("is forgotten after a quiet spell", () => {
    let f: Failures | undefined;
    for (let i = 0; i < 8; i++) f = failedGuess(f, 0);
    expect(failedGuess(f, GUESS_BACKOFF.forgetMs).count).toBe(1);
  });

  test("holds back one address's guesses until its wait is over, and a right guess ends it", () => {
    const { clock, l } = limits({ perAddress: { capacity: 100, perMs: 1000 } });
    for (let i = 0; i <= GUESS_BACKOFF.free; i++) {
      expect(admit(l, "pin_guess", "192.0.2.9")).toBe(0);
      guessFailed(l, "192.0.2.9");
    }
    expect(admit(l, "pin_guess", "192.0.2.9")).toBe(1_000);
    expect(admit(l, "pin_guess", "192.0.2.10")).toBe(0);
    expect(admit(l, "pin_request", "192.0.2.9")).toBe(0); // the back-off is for guesses only
    clock.t += 1_000;
    expect(admit(l, "pin_guess", "192.0.2.9")).toBe(0);
    guessSucceeded(l, "192.0.2.9");
    guessFailed(l, "192.0.2.9");
    expect(admit(l, "pin_guess", "192.0.2.9")).toBe(0);
  });
});

// Failed before: each /64 had a bucket of its own, and a home given a /56 holds 256 of them.
describe("addresses of one IPv6 /56", () => {
  test("share one sign-in bucket, in all its /64s; another /56 and IPv4 addresses have their own", () => {
    const { l } = limits();
    for (let i = 0; i < spec.capacity; i++) expect(admit(l, "pin_request", `2001:db8:1:2${i}::1`)).toBe(0);
    expect(admit(l, "pin_request", "2001:db8:1:ff:ffff:ffff:ffff:ffff")).toBeGreaterThan(0);
    expect(admit(l, "pin_request", "2001:db8:1:100::1")).toBe(0);
    expect(admit(l, "pin_request", "192.0.2.1")).toBe(0);
    for (let i = 0; i <= GUESS_BACKOFF.free; i++) guessFailed(l, `2001:db8:2:${i}::1`);
    expect(admit(l, "pin_guess", "2001:db8:2:ab::1")).toBeGreaterThan(0); // the back-off too
  });

  test("addressGroupWithin takes the prefix it is given, and addressGroup (other limits) keeps the /64", () => {
    expect(["2001:db8:1:100::1", "2001:db8:1:1ff:1:2:3:4", "2001:DB8:1:1AB::"].map((a) => addressGroupWithin(a, 56))).toEqual(Array(3).fill("2001:db8:1:100::/56"));
    expect([addressGroup("2001:db8:1:1ff::1"), addressGroupWithin("2001:db8:abcd:12ff::", 48), addressGroupWithin("::ffff:1.2.3.4", 56)]).toEqual(["2001:db8:1:1ff::/64", "2001:db8:abcd:0::/48", "1.2.3.4"]);
  });

  test("addressGroup writes every spelling of a /64 alike", () => {
    const g = "2001:db8:0:1::/64";
    expect(["2001:db8:0:1::1", "2001:0db8:0000:0001:0:0:0:2", "2001:DB8::1:0:0:0:3", "2001:db8:0:1:1:2:3.4.5.6"].map(addressGroup)).toEqual([g, g, g, g]);
    expect([addressGroup("::1"), addressGroup("fe80::1%eth0"), addressGroup("10.1.2.3")]).toEqual(["0:0:0:0::/64", "fe80:0:0:0::/64", "10.1.2.3"]);
    // IPv4 clients written as IPv6 stay apart, each its own IPv4 address
    expect(["0:0:0:0:0:ffff:1.2.3.4", "::ffff:102:304", "::FFFF:1.2.3.4", "64:ff9b::1.2.3.4", "64:ff9b::102:304"].map(addressGroup)).toEqual(Array(5).fill("1.2.3.4"));
    expect(addressGroup("::ffff:5.6.7.8")).toBe("5.6.7.8");
  });
});

test("Retry-After is whole seconds, at least one", () => {
  expect([retryAfter(1), retryAfter(999), retryAfter(1000), retryAfter(1001), retryAfter(90_000)]).toEqual(["1", "1", "1", "2", "90"]);
});

// Failed before: every refused peer link (anyone may knock) wrote a warning, without end.
test("a bounded log writes its share a window, then says how many it left out", () => {
  const lines: string[] = [];
  setupLog("info"); // whatever level an earlier test file left
  log.setReporters([{ log: (o) => void lines.push(o.args.join(" ")) }]);
  try {
    let t = 0;
    const write = boundedLog(3, 60_000, () => t);
    for (let i = 0; i < 1000; i++) write("warn", `knock ${i}`);
    expect(lines).toEqual(["knock 0", "knock 1", "knock 2"]);
    t += 60_000;
    write("warn", "knock again");
    expect(lines.slice(3)).toEqual(["997 more lines like the one before were left out in 60 s", "knock again"]);
  } finally {
    setupLog("silent");
  }
});

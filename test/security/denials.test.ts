// Junk denials cannot silence the audit (issue 26, finding 14). The edge writes at most 600
// denial rows a minute however many addresses send them; before, an attacker who spent those
// from one IPv6 /48 (a /64 each, 30 rows apiece) left every later denial unrecorded, their own
// real attempt from elsewhere included. Now each network (an IPv4 address, an IPv6 /48) still
// gets one row a minute past that share. A real store, the edge's own decision code.
import { describe, expect, test } from "bun:test";
import { setupLog } from "../../lib/cli/log.ts";
import { authorizeClient } from "../../lib/edge/decisions/authorize.ts";
import { createDenialLimiter, DEFAULT_DENIAL_LIMITS } from "../../lib/edge/decisions/denials.ts";
import { addApp, addZone, queryAudit } from "../../lib/store/index.ts";
import { withStore } from "../helpers/store.ts";

setupLog("silent");

const APP = "ssh.site.test";
const { perAddress, total } = DEFAULT_DENIAL_LIMITS;

describe("the edge's share of denial rows, used up by junk", () => {
  test(`after ${total} junk denials from the /64s of one IPv6 /48, a denial from another address still reaches the audit; the /48 gets one row more, not one a /64`, () =>
    withStore("sqlite", async (store) => {
      await addZone(store, "site.test");
      await addApp(store, APP);
      const deny = async (ip: string) => (await authorizeClient(store, new Request(`https://${APP}/`), APP, ip)).reject?.reason;
      // anonymous upgrades: "sign-in required", perAddress rows from each /64 until the edge's share is spent
      const junkAddresses = Math.ceil(total / perAddress) + 10;
      for (let i = 0; i < junkAddresses; i++) for (let n = 0; n < perAddress; n++) expect(await deny(`2001:db8:7:${i.toString(16)}::1`)).toContain("sign-in required");
      const junkRows = (await queryAudit(store, { denied: true, limit: 10_000 })).length;

      await deny("198.51.100.7");
      await deny("198.51.100.7"); // its second: counted, not recorded
      await deny("2001:db8:99:1::1"); // another /48
      const rows = await queryAudit(store, { denied: true, limit: 10_000 });
      const victims = rows.filter((r) => r.ip === "198.51.100.7" || r.ip === "2001:db8:99:1::1");
      expect(victims.map((r) => r.ip).sort()).toEqual(["198.51.100.7", "2001:db8:99:1::1"]);
      expect(victims.every((r) => r.reason?.includes("denial rows for this minute are used up"))).toBe(true);
      expect(junkRows).toBe(total + 1); // the share, and the /48's one row past it
      expect(rows.length).toBe(junkRows + 2);
    }), 60_000);

  test("past the share, each network gets one row a window; its further denials are counted and reported with its next row", () => {
    let now = 7_000_000;
    const limiter = createDenialLimiter({ perAddress: 3, windowMs: 60_000, maxAddresses: 10_000, total: 5 }, () => now);
    for (let i = 0; i < 5; i++) limiter.admit(`192.0.2.${i}`);
    expect(limiter.admit("203.0.113.9")).toEqual({ record: true, suppressedBefore: 0, network: "203.0.113.9" });
    expect(limiter.admit("203.0.113.9")).toEqual({ record: false });
    expect(limiter.admit("2001:db8:1:2::1")).toEqual({ record: true, suppressedBefore: 0, network: "2001:db8:1::/48" });
    expect(limiter.admit("2001:db8:1:3::1")).toEqual({ record: false }); // the same /48
    now += 60_000;
    expect(limiter.admit("203.0.113.9")).toEqual({ record: true, suppressedBefore: 1 });
  });
});

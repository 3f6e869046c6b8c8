// Attacks on the device flow's cost, by anyone on the network and by a signed-in person: device
// codes started from many addresses, polls faster than the interval (RFC 8628 3.5), and user
// codes guessed in the browser (RFC 8628 5.1). The real edge; each client speaks from an
// address of its own (test/helpers/signin.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SIGN_IN_LIMITS } from "../../lib/edge/signin/rate-limit.ts";
import { client, people, pinEdge, pinFromLog, pinIdIn } from "../helpers/signin.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import type { TestEdge } from "../helpers/wicket.ts";

let dir: TempDir;
let edge: TestEdge;

beforeAll(async () => {
  dir = await tempDir("wicket-device-abuse-");
  edge = await pinEdge(dir, "edge");
  await people(edge, "site.test");
}, 30_000);

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("device codes from many addresses", () => {
  // Failed before: an edge-wide bucket of 120 a minute refused everyone once it was empty.
  test("a hundred and fifty addresses starting one each leave the next address its code", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) statuses.push((await (await client(edge, `10.200.${i >> 8}.${i & 255}`)).startDevice({ scope: "tunnel" })).status);
    expect(statuses).toEqual(Array(150).fill(200));
    expect((await (await client(edge, "198.51.100.90")).startDevice({ scope: "tunnel" })).status).toBe(200);
  }, 60_000);
});

describe("device-code polls", () => {
  // Failed before: every poll, the too-early ones included, was an UPDATE of the code's row.
  test("polls faster than the interval are told slow_down, the interval growing 5 s each, and the code's row is never written", async () => {
    const c = await client(edge, "203.0.113.91");
    const { device_code } = JSON.parse((await c.startDevice({ scope: "tunnel" })).text);
    const db = new Database(`${edge.dataDir}/wicket.db`, { readonly: true });
    const row = () => db.query("SELECT * FROM device_codes WHERE code_hash = ?").get(new Bun.CryptoHasher("sha256").update(device_code).digest("hex"));
    const before = row();
    expect(before).not.toBeNull();
    const answers = [];
    for (let i = 0; i < 30; i++) {
      const a = await c.send("/oauth/token", { grant_type: "urn:ietf:params:oauth:grant-type:device_code", client_id: "wicket", device_code });
      answers.push(JSON.parse(a.text) as { error: string; error_description: string });
    }
    expect(answers.map((a) => a.error)).toEqual(["authorization_pending", ...Array(29).fill("slow_down")]);
    expect(answers.slice(1, 3).map((a) => a.error_description)).toEqual(["poll at most every 10 seconds", "poll at most every 15 seconds"]);
    expect(row()).toEqual(before);
    db.close();
  });
});

describe("user codes typed by a signed-in person", () => {
  /** A client at `ip` signed in as `email` (a PIN from the log). */
  async function signedIn(ip: string, email: string) {
    const c = await client(edge, ip);
    const pinId = pinIdIn((await c.askPin(email)).text)!;
    expect((await c.guess(pinId, await pinFromLog(edge, email))).status).toBe(303);
    return c;
  }
  const wrongCode = (i: number) => `BBBB-${"BCDFGHJKLMNPQRSTVWXZ"[i % 20]}${"BCDFGHJKLMNPQRSTVWXZ"[(i >> 2) % 20]}BB`;
  const typed = async (c: Awaited<ReturnType<typeof signedIn>>, code: string) => c.get(`/device?user_code=${encodeURIComponent(code)}`);

  // Failed before: a signed-in person could try codes as fast as the edge answered (RFC 8628 5.1).
  test("that match nothing get 429 past the session's share, and every session at one address past the address's; a person's own code never counts", async () => {
    const { perSession, perAddress } = SIGN_IN_LIMITS.user_code;
    const ip = "203.0.113.95";
    const first = await signedIn(ip, "typist1@site.test");
    const own = JSON.parse((await first.startDevice({ scope: "tunnel" })).text) as { user_code: string };
    for (let i = 0; i < perSession.capacity + 5; i++) expect((await typed(first, own.user_code)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i <= perSession.capacity; i++) statuses.push((await typed(first, wrongCode(i))).status);
    expect(statuses).toEqual([...Array(perSession.capacity).fill(400), 429]);
    const refusal = await typed(first, own.user_code);
    expect([refusal.status, Number(refusal.headers.get("retry-after")) >= 1, refusal.text.includes("Too many codes")]).toEqual([429, true, true]);

    // other sessions at that address spend the rest of the address's share, then none is left
    const sessions = perAddress.capacity / perSession.capacity;
    for (let n = 2; n <= sessions; n++) {
      const other = await signedIn(ip, `typist${n}@site.test`);
      for (let i = 0; i < perSession.capacity; i++) expect((await typed(other, wrongCode(i))).status).toBe(400);
    }
    const last = await signedIn(ip, "typist-last@site.test");
    expect((await typed(last, wrongCode(0))).status).toBe(429);
    const elsewhere = await signedIn("198.51.100.95", "typist-elsewhere@site.test");
    expect((await typed(elsewhere, wrongCode(0))).status).toBe(400);
  }, 60_000);
});


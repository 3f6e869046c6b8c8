// Attacks on signing in, by someone with nothing but network access to the edge: flooding PIN
// requests (each a mail through our SMTP) from one address, from many, and for mailboxes no
// policy names; guessing PINs; flooding device codes from one address (device-abuse.test.ts
// has the rest of the device flow); passing a one-factor PIN sign-in off as MFA; an identity
// provider that never verified the address; and a return path that turns into another site
// after one pass. Each runs against the real edge.
//
// The edge trusts 127.0.0.1 as a proxy here, so each test can speak from addresses of its own
// (X-Forwarded-For, test/helpers/signin.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import type { Browser } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { metricsUrl, scrape } from "../helpers/metrics.ts";
import { startOidc } from "../helpers/oidc.ts";
import { startSmtp } from "../helpers/smtp.ts";
import { client, people, pinEdge, pinFromLog, pinIdIn, type Answer } from "../helpers/signin.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, type TestEdge } from "../helpers/wicket.ts";
import { safeReturn } from "../../lib/edge/http/cookies.ts";
import { SIGN_IN_LIMITS, GUESS_BACKOFF } from "../../lib/edge/signin/rate-limit.ts";

let dir: TempDir;
let edge: TestEdge;
let ca: string;
let metrics: string;

const refused = async (endpoint: string) => (await scrape(metrics)).get("wicket_edge_rate_limited_total", { endpoint });

beforeAll(async () => {
  dir = await tempDir("wicket-abuse-");
  edge = await pinEdge(dir, "edge");
  ca = readFileSync(edge.caFile, "utf8");
  metrics = await metricsUrl(edge.proc);
  await people(edge, "site.test", "flood.test");
}, 30_000);

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("PIN requests", () => {
  test("one client asking PINs for many invented addresses gets 429 with Retry-After after its share; no PIN is made or mailed for a refused request; other clients are still served", async () => {
    const attacker = await client(edge, "203.0.113.1");
    const share = SIGN_IN_LIMITS.pin_request.perAddress.capacity;
    const answers: Answer[] = [];
    for (let i = 0; i < share + 10; i++) answers.push(await attacker.askPin(`u${i}@flood.test`));
    expect(answers.map((a) => a.status)).toEqual([...Array(share).fill(200), ...Array(10).fill(429)]);
    const last = answers.at(-1)!;
    expect(Number(last.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(last.text).toContain("Too many PINs");
    expect(pinIdIn(last.text)).toBeUndefined();
    expect(await refused("pin_request")).toBe(10);

    const someone = await client(edge, "198.51.100.7");
    expect((await someone.askPin("real@site.test")).status).toBe(200);
    await pinFromLog(edge, "real@site.test");
    // Every PIN the edge made was logged (mailed) before its page was sent: none for the refused ten.
    expect(edge.proc.stderr().match(/the PIN for u\d+@flood\.test is/g)).toHaveLength(share);
  });

  // Failed before: an edge-wide bucket refused everyone once a hundred addresses had asked.
  test("PIN requests from a hundred and twenty addresses leave the next address its PIN: no share is the whole edge's", async () => {
    await using own = await tempDir("wicket-abuse-global-");
    await using e = await pinEdge(own, "global");
    await people(e, "flood.test");
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) statuses.push((await (await client(e, `10.${(i >> 8) & 255}.${i & 255}.9`)).askPin(`v${i}@flood.test`)).status);
    expect(statuses).toEqual(Array(120).fill(200));
    const fresh = await client(e, "198.51.100.77");
    expect(pinIdIn((await fresh.askPin("last@flood.test")).text)).toBeDefined();
    await pinFromLog(e, "last@flood.test");
  }, 60_000);

  // Failed before: each /64 was a client of its own, and a home is given a /56 of 256.
  test("the /64s of one IPv6 /56 share one address's share", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < SIGN_IN_LIMITS.pin_request.perAddress.capacity + 1; i++) statuses.push((await (await client(edge, `2001:db8:77:${(0x10 + i).toString(16)}::1`)).askPin(`h${i}@flood.test`)).status);
    expect(statuses.at(-1)).toBe(429);
    expect((await (await client(edge, "2001:db8:77:100::1")).askPin("next@flood.test")).status).toBe(200); // the next /56
  });
});

describe("PINs for mailboxes no policy names", () => {
  // Failed before: a PIN was made, stored and mailed to any mailbox at all, as fast as each
  // address's share allowed.
  test("are answered with the page a real one gets, and kept as a real one is, but not mailed; guesses answer as for a real PIN", async () => {
    await using smtp = await startSmtp();
    await using own = await tempDir("wicket-abuse-mail-");
    const config = own.join("mail.yaml");
    writeFileSync(config, `trusted-proxies: 127.0.0.1\nsmtp: { host: 127.0.0.1, port: ${smtp.port}, from: "wicket <wicket@site.test>" }\n`);
    await using e = await startEdge({ dir: own, extra: ["--config", config] });
    await people(e, "site.test");
    await e.admin(["zone", "edit", "site.test", "--add-admin", "root@ops.test"]);
    const c = await client(e, "203.0.113.80");
    const decoy = await c.askPin("nobody@elsewhere.test");
    const real = await c.askPin("somebody@site.test");
    const admin = await c.askPin("root@ops.test");
    const shape = (a: Answer, email: string) => [a.status, a.text.replaceAll(email, "EMAIL").replace(/name="pin_id" value="wkp_[^"]+"/, 'name="pin_id" value="ID"')];
    expect(shape(decoy, "nobody@elsewhere.test")).toEqual(shape(real, "somebody@site.test"));
    expect(pinIdIn(decoy.text)).toMatch(/^wkp_/);
    // Mails leave in the order asked: the first that arrives is the named mailbox's, then the zone admin's.
    const recipients = [(await smtp.nextMail()).to, (await smtp.nextMail()).to].map((to) => (to && !Array.isArray(to) ? to.text : ""));
    expect(recipients).toEqual(["somebody@site.test", "root@ops.test"]);
    const db = new Database(`${e.dataDir}/wicket.db`, { readonly: true });
    expect(db.query("SELECT email FROM pins ORDER BY created_at").all()).toEqual([{ email: "nobody@elsewhere.test" }, { email: "somebody@site.test" }, { email: "root@ops.test" }]);
    db.close();
    const guesses = [];
    for (const id of [pinIdIn(decoy.text)!, pinIdIn(real.text)!]) guesses.push(/role="alert">([^<]*)</.exec((await c.guess(id, "23456789")).text)?.[1]);
    expect(guesses).toEqual(["That PIN is wrong; 4 tries left.", "That PIN is wrong; 4 tries left."]);
    expect(e.proc.stderr()).toContain("no sign-in PIN sent to nobody@elsewhere.test");
  }, 60_000);
});

describe("PIN addresses", () => {
  // Failed before: each passed the old check, and nodemailer reads each as a name, a comment or
  // a list, so the PIN for one identity went to another mailbox (or the per-address limit was
  // dodged by spelling one mailbox many ways); the long one cost the edge a quadratic pattern
  // match before its length was looked at.
  test("anything but one plain mailbox is refused before a PIN is made; a 16,000-character one too", async () => {
    const c = await client(edge, "203.0.113.40");
    const nasty = ["x<victim@corp.test", "victim@corp.test(1)", "a,victim@corp.test", "attacker@evil.test,corp.test", "x<attacker>@corp.test", '"a b"@corp.test', "a@corp.test;b@corp.test", `a@${"a.".repeat(5000)}@`];
    for (const email of nasty) {
      const a = await c.askPin(email);
      expect(a.text, email).toContain("That is not an e-mail address");
      expect(pinIdIn(a.text), email).toBeUndefined();
    }
    expect(edge.proc.stderr()).not.toContain("corp.test is");
    expect(pinIdIn((await c.askPin("o'brien+ci@corp.test")).text)).toBeDefined();
  });
});

describe("the edge's log", () => {
  // Failed before: a line break in a form field started a log line of the attacker's own.
  test("holds what a client sent on one line: a PIN id with a line break forges no line", async () => {
    const c = await client(edge, "203.0.113.60");
    await c.guess("nope\nsigned in: admin@site.test with email from 10.0.0.1", "123456");
    await edge.proc.waitForLine(/sign-in PIN "nope\\nsigned in: admin@site\.test/, { stream: "stderr" });
    expect(edge.proc.stderr().split("\n").some((l) => l.startsWith("signed in: admin@site.test"))).toBe(false);
  });
});

describe("OpenID Connect sign-ins started", () => {
  // Failed before: each POST wrote a row kept for 10 minutes, as fast as it could be sent.
  test("past an address's share get 429 and write nothing", async () => {
    const idp = await startOidc({});
    await using own = await tempDir("wicket-abuse-oidc-start-");
    const config = own.join("oidc.yaml");
    writeFileSync(config, `trusted-proxies: 127.0.0.1\nidentity-providers:\n  - { name: corp, type: oidc, display-name: corp, issuer: ${idp.issuer}, client-id: ${idp.clientId}, client-secret: ${idp.clientSecret} }\n`);
    try {
      await using e = await startEdge({ dir: own, extra: ["--config", config] });
      idp.register([`${e.url}/sign-in/oidc/corp/callback`]);
      const c = await client(e, "203.0.113.50");
      const share = SIGN_IN_LIMITS.oidc_start.perAddress.capacity;
      const statuses: number[] = [];
      for (let i = 0; i < share + 5; i++) statuses.push((await c.startOidc("corp")).status);
      expect(statuses).toEqual([...Array(share).fill(303), ...Array(5).fill(429)]);
      const db = new Database(`${e.dataDir}/wicket.db`, { readonly: true });
      expect((db.query("SELECT count(*) AS n FROM oidc_logins").get() as { n: number }).n).toBe(share);
      db.close();
      expect((await (await client(e, "198.51.100.50")).startOidc("corp")).status).toBe(303);
    } finally {
      await idp.stop();
    }
  }, 60_000);
});

describe("PIN guesses", () => {
  test("guessing from one client gets 429 with Retry-After once its free tries are spent; a client elsewhere is not held back", async () => {
    const attacker = await client(edge, "203.0.113.2");
    const pinId = pinIdIn((await attacker.askPin("victim@site.test")).text)!;
    const pin = await pinFromLog(edge, "victim@site.test");
    const wrong = (pin[0] === "2" ? "3" : "2") + pin.slice(1);

    const statuses: number[] = [];
    let refusal: Answer | undefined;
    for (let i = 0; i < 12 && !refusal; i++) {
      const a = await attacker.guess(pinId, wrong);
      statuses.push(a.status);
      if (a.status === 429) refusal = a;
    }
    // The free tries, one more that starts the back-off, then a refusal from memory.
    expect(statuses).toEqual([...Array(GUESS_BACKOFF.free + 1).fill(400), 429]);
    expect(refusal!.headers.get("retry-after")).toBe("1");
    expect(refusal!.text).toContain("Too many PINs were tried");
    expect((await attacker.guess(pinId, wrong)).status).toBe(429); // still waiting: a refusal does not reset the clock
    expect(await refused("pin_guess")).toBe(2);

    const elsewhere = await client(edge, "198.51.100.8");
    const other = pinIdIn((await elsewhere.askPin("someone@site.test")).text)!;
    const right = await pinFromLog(edge, "someone@site.test");
    const ok = await elsewhere.guess(other, right.toLowerCase()); // as typed: case does not matter
    expect([ok.status, ok.headers.get("location")]).toEqual([303, "/"]);
  });
});

describe("device codes", () => {
  test("a flood of device codes from one client gets 429 slow_down with Retry-After; another client still gets one", async () => {
    const attacker = await client(edge, "203.0.113.3");
    const share = SIGN_IN_LIMITS.device_code.perAddress.capacity;
    const answers: Answer[] = [];
    for (let i = 0; i < share + 5; i++) answers.push(await attacker.startDevice({ scope: "tunnel" }));
    expect(answers.map((a) => a.status)).toEqual([...Array(share).fill(200), ...Array(5).fill(429)]);
    const last = answers.at(-1)!;
    expect(JSON.parse(last.text)).toMatchObject({ error: "slow_down", error_description: expect.stringContaining("try again in") });
    expect(Number(last.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused("device_code")).toBe(5);

    const someone = await client(edge, "198.51.100.9");
    expect((await someone.startDevice({ scope: "tunnel" })).status).toBe(200);
  });
});

describe("what a sign-in proves", () => {
  test("a PIN sign-in is one factor: it does not satisfy --require mfa, and does satisfy the same policy without it", async () => {
    await edge.admin(["zone", "add", "mfa.test"]);
    for (const [host, extra] of [
      ["mfa.mfa.test", ["--require", "mfa"]],
      ["plain.mfa.test", []],
    ] as const) {
      await edge.admin(["app", "add", host]);
      await edge.admin(["policy", "add", host, "--name", "people", "--action", "allow", "--include", "domain:site.test", ...extra]);
    }
    const person = await client(edge, "198.51.100.10");
    const pinId = pinIdIn((await person.askPin("pat@site.test")).text)!;
    expect((await person.guess(pinId, await pinFromLog(edge, "pat@site.test"))).status).toBe(303);

    const confirmation = async (host: string) => {
      const d = JSON.parse((await person.startDevice({ scope: "app", resource: `https://${host}` })).text);
      return person.get(`/device?user_code=${encodeURIComponent(d.user_code)}`);
    };
    const mfa = await confirmation("mfa.mfa.test");
    expect(mfa.status).toBe(403);
    expect(mfa.text).toContain("pat@site.test");
    expect(mfa.text).toContain("mfa.mfa.test");
    expect((await confirmation("plain.mfa.test")).status).toBe(200);
  });

  test("an ID token without email_verified is refused, unless the provider's config has trust-email", async () => {
    const [strict, trusting] = await Promise.all([startOidc({ "nora@idp.test": { groups: [], emailVerified: "absent" } }), startOidc({ "nora@idp.test": { groups: [], emailVerified: "absent" } })]);
    await using own = await tempDir("wicket-abuse-oidc-");
    const config = own.join("oidc.yaml");
    const provider = (name: string, p: typeof strict, extra = "") =>
      `  - { name: ${name}, type: oidc, display-name: ${name}, issuer: ${p.issuer}, client-id: ${p.clientId}, client-secret: ${p.clientSecret}, scopes: [openid, email]${extra} }\n`;
    writeFileSync(config, `identity-providers:\n${provider("strict", strict)}${provider("trusting", trusting, ", trust-email: true")}`);
    await using e = await startEdge({ dir: own, extra: ["--config", config] });
    strict.register([`${e.url}/sign-in/oidc/strict/callback`]);
    trusting.register([`${e.url}/sign-in/oidc/trusting/callback`]);
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const signIn = async (name: string) => {
        const context = await browser!.newContext({ ignoreHTTPSErrors: true }); // the edge's self-signed CA
        const page = await context.newPage();
        await page.goto(`${e.url}/sign-in`);
        await page.getByRole("button", { name: `Sign in with ${name}` }).click();
        await page.locator('input[name="login"]').fill("nora@idp.test");
        await page.locator('input[name="password"]').fill("anything");
        await page.getByRole("button", { name: "Sign-in" }).click();
        await page.getByRole("button", { name: "Continue" }).click(); // the provider's consent page
        // Back at the edge: its sign-in page with the reason, or signed in and sent on to "/".
        await page.waitForURL((u) => u.origin === e.url);
        const alert = (await page.locator('[role="alert"]').count()) ? await page.locator('[role="alert"]').textContent() : undefined;
        return { alert, at: new URL(page.url()), session: (await context.cookies(e.url)).some((c) => c.name === "__Host-wicket-session") };
      };
      const refused = await signIn("strict");
      expect(refused.alert).toContain("does not say the e-mail address nora@idp.test is verified");
      expect(refused.session).toBe(false);
      const trusted = await signIn("trusting");
      expect([trusted.session, trusted.at.origin, trusted.at.pathname]).toEqual([true, e.url, "/"]);
    } finally {
      await browser?.close();
      await Promise.all([strict.stop(), trusting.stop()]);
    }
  }, 60_000);
});

describe("return paths", () => {
  const nasty = ["/.//evil.example", "/./evil.example", "/%2e//evil.example", "/a/..//evil.example", "/%2E%2E//evil.example/x?y", "/x/.././/evil.example", `/${'"'.repeat(200)}`, "//evil.example", "/\\evil.example"];

  test("safeReturn is safe after one pass, and a second pass changes nothing", () => {
    for (const raw of nasty) {
      const once = safeReturn(raw);
      expect({ raw, once, offSite: once.startsWith("//") }).toEqual({ raw, once, offSite: false });
      expect({ raw, twice: safeReturn(once) }).toEqual({ raw, twice: once });
    }
  });

  test("the sign-in page never carries a return path to another site", async () => {
    for (const raw of nasty) {
      const res = await fetch(`${edge.url}/sign-in?return=${encodeURIComponent(raw)}`, { tls: { ca } } as RequestInit);
      const value = /name="return" value="([^"]*)"/.exec(await res.text())![1]!;
      expect({ raw, offSite: value.startsWith("//") }).toEqual({ raw, offSite: false });
    }
  });
});

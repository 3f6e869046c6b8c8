// Attacks on the device flow's approval, by someone who can start a sign-in and send a link:
// a pre-filled link that hands out a zone credential in one click, an approval page that does
// not say what it gives or who asked, and a forged or cross-site approval. The real edge,
// real Chromium (playwright-core) for the person's browser.
//
// The edge believes X-Forwarded-For from 127.0.0.1, so the requester speaks from 203.0.113.x
// while the browser, which sends no such header, is at 127.0.0.1: the page must tell them apart.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { pinFromLog, pollDevice, startDevice, type DeviceCode } from "../helpers/signin.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, type TestEdge } from "../helpers/wicket.ts";

const ZONE = "site.test";
const APP = `ssh.${ZONE}`;
const ADMIN = `admin@${ZONE}`;

let dir: TempDir;
let edge: TestEdge;
let ca: string;
let browser: Browser;
/** The zone admin's browser, signed in; and an attacker's, signed in as themselves. */
let admin: BrowserContext;
let attacker: BrowserContext;

/** A request as anyone on the network sends it, from `from` (X-Forwarded-For). */
async function send(path: string, init: RequestInit & { from?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.from) headers.set("x-forwarded-for", init.from);
  return fetch(`${edge.url}${path}`, { ...init, headers, redirect: "manual", tls: { ca } } as RequestInit);
}

async function signIn(context: BrowserContext, email: string) {
  const page = await context.newPage();
  await page.goto(`${edge.url}/sign-in?return=/device`);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByRole("button", { name: "Send me a PIN" }).click();
  await page.getByLabel("PIN").fill(await pinFromLog(edge, email));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Enter the code from your terminal" }).waitFor();
  await page.close();
}

/** Types `code` on the device page, as the person would, and returns the page it leads to. */
async function typeCode(context: BrowserContext, code: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${edge.url}/device`);
  await page.getByLabel("Code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.locator("#user-code").waitFor();
  return page;
}

/** A browser's cookies for the edge, as a Cookie header, by name. */
async function cookiesOf(context: BrowserContext): Promise<Record<string, string>> {
  return Object.fromEntries((await context.cookies(edge.url)).map((c) => [c.name, c.value]));
}
const cookieHeader = (c: Record<string, string>) =>
  Object.entries(c)
    .map(([k, v]) => `${k}=${v}`)
    .join("; ");

beforeAll(async () => {
  dir = await tempDir("wicket-device-");
  const config = dir.join("edge.yaml");
  writeFileSync(config, "dev: true\ntrusted-proxies: 127.0.0.1\ndevice-poll-interval: 1ms\n");
  [edge, browser] = await Promise.all([startEdge({ dir, extra: ["--config", config] }), launchChromium()]);
  ca = readFileSync(edge.caFile, "utf8");
  await edge.admin(["zone", "add", ZONE, "--admin", ADMIN, "--admin", `eve@${ZONE}`]);
  await edge.admin(["app", "add", APP]);
  await edge.admin(["policy", "add", APP, "--name", "people", "--action", "allow", "--include", `domain:${ZONE}`]);
  [admin, attacker] = await Promise.all([browser.newContext({ ignoreHTTPSErrors: true }), browser.newContext({ ignoreHTTPSErrors: true })]);
  await signIn(admin, ADMIN);
  await signIn(attacker, `eve@${ZONE}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("a server's zone credential is approved only with the code typed", () => {
  test("a tunnel-scope device code comes without verification_uri_complete; an app sign-in's still has it", async () => {
    const tunnel = await startDevice(edge, "203.0.113.10", { scope: "tunnel" });
    expect(tunnel.verification_uri).toBe(`${edge.url}/device`);
    expect(tunnel).not.toHaveProperty("verification_uri_complete");
    const app = await startDevice(edge, "203.0.113.10", { scope: "app", resource: `https://${APP}` });
    expect(app.verification_uri_complete).toBe(`${edge.url}/device?user_code=${app.user_code}`);
  });

  test("a link with a tunnel code in it, opened by a signed-in zone admin, fills nothing in and offers nothing to approve; the code stays pending", async () => {
    const d = await startDevice(edge, "203.0.113.11", { scope: "tunnel" });
    const page = await admin.newPage();
    await page.goto(`${edge.url}/device?user_code=${encodeURIComponent(d.user_code)}`);
    await page.getByText("type the code that its terminal shows").waitFor();
    expect(await page.getByLabel("Code").inputValue()).toBe("");
    expect(await page.getByRole("button", { name: /Connect servers|Approve/ }).count()).toBe(0);
    expect(await page.locator("main").textContent()).not.toContain(d.user_code);
    await page.close();
    expect(await pollDevice(edge, d)).toMatchObject({ error: "authorization_pending" });
  });

  test("typed, the code leads to a page that names the zone credential and where and when it was asked for; approving gives the requester that credential", async () => {
    const d = await startDevice(edge, "203.0.113.12", { scope: "tunnel" });
    const page = await typeCode(admin, d.user_code);
    expect(await page.locator("#user-code").textContent()).toBe(d.user_code);
    const text = (await page.locator("main").textContent())!;
    expect(text).toContain(`a zone credential that lets a server serve hostnames in a zone`);
    expect(text).toContain(`A zone credential that lets a server serve hostnames in zone ${ZONE}`);
    const from = (await page.locator("#requested-from").textContent())!;
    expect(from).toContain("203.0.113.12");
    expect(from).toMatch(/It was made (just now|\d+ seconds ago)/);
    expect(from).toContain("not the address this browser is using (127.0.0.1)");
    await page.getByRole("button", { name: `Connect servers to ${ZONE}` }).click();
    await page.getByRole("heading", { name: "Server connected" }).waitFor();
    await page.close();
    expect(await pollDevice(edge, d)).toMatchObject({ issued_token_type: "urn:wicket:zone-credential", zone: ZONE, email: ADMIN });
  });

  test("an app sign-in's page says that approving reaches every application the person may reach, and where the request came from", async () => {
    const d = await startDevice(edge, "203.0.113.13", { scope: "app", resource: `https://${APP}` });
    const page = await admin.newPage();
    await page.goto(d.verification_uri_complete!);
    expect(await page.locator("#grant").textContent()).toContain("every application on this edge that you may reach");
    expect(await page.locator("#requested-from").textContent()).toContain("203.0.113.13");
    await page.close();
  });
});

describe("a forged or cross-site approval fails", () => {
  /** The token the approval form carries in `context`'s browser, shown a tunnel code typed there. */
  async function approvalToken(context: BrowserContext, d: DeviceCode): Promise<string> {
    const page = await typeCode(context, d.user_code);
    const token = (await page.locator('form:has(button[name="zone"]) input[name="csrf"]').getAttribute("value"))!;
    await page.close();
    return token;
  }
  /** The attacker's own approval token, from their own signed-in browser: the best guess they have. */
  const attackersToken = async () => approvalToken(attacker, await startDevice(edge, "203.0.113.29", { scope: "tunnel" }));

  test("a page on another site that posts the approval in the admin's browser is refused; the code stays pending", async () => {
    const d = await startDevice(edge, "203.0.113.20", { scope: "tunnel" });
    const fields = { user_code: d.user_code, action: "approve", zone: ZONE, csrf: await attackersToken() };
    const inputs = Object.entries(fields)
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`)
      .join("");
    const page = await admin.newPage();
    // evil.example is served by the test (Playwright answers for it); its form posts to the real edge.
    await page.route("https://evil.example/**", (r) =>
      r.fulfill({ contentType: "text/html", body: `<form id="f" method="post" action="${edge.url}/device">${inputs}</form><script>document.getElementById("f").submit()</script>` }),
    );
    const answered = page.waitForResponse((r) => r.url() === `${edge.url}/device` && r.request().method() === "POST");
    await page.goto("https://evil.example/win-a-prize");
    expect((await answered).status()).toBe(403);
    await page.getByRole("heading", { name: "Form expired" }).waitFor();
    await page.close();
    expect(await pollDevice(edge, d)).toMatchObject({ error: "authorization_pending" });
  });

  test("with the admin's session cookie, an approval needs the token bound to that session: none, the CSRF cookie's bare value, another session's, a planted CSRF cookie, another Origin or a cross-site fetch all get 403", async () => {
    const d = await startDevice(edge, "203.0.113.22", { scope: "tunnel" });
    const token = await approvalToken(admin, d);
    const theirs = await attackersToken();
    const victim = await cookiesOf(admin);
    const planted = (await cookiesOf(attacker))["__Host-wicket-csrf"]!;
    const post = (cookies: Record<string, string>, csrf: string | undefined, headers: Record<string, string> = {}) =>
      send("/device", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookieHeader(cookies), ...headers },
        body: new URLSearchParams({ user_code: d.user_code, action: "approve", zone: ZONE, ...(csrf === undefined ? {} : { csrf }) }),
      });

    const attempts: [string, () => Promise<Response>][] = [
      ["no token", () => post(victim, undefined)],
      ["the CSRF cookie's bare value (what sign-in forms carry)", () => post(victim, victim["__Host-wicket-csrf"])],
      ["the attacker's token, from their own session", () => post(victim, theirs)],
      ["a planted CSRF cookie with the attacker's token", () => post({ ...victim, "__Host-wicket-csrf": planted }, theirs)],
      ["a planted CSRF cookie, posted as its own value", () => post({ ...victim, "__Host-wicket-csrf": planted }, planted)],
      ["no CSRF cookie", () => post({ "__Host-wicket-session": victim["__Host-wicket-session"]! }, token)],
      ["another Origin", () => post(victim, token, { origin: "https://evil.example" })],
      ["a cross-site fetch", () => post(victim, token, { "sec-fetch-site": "cross-site" })],
    ];
    const statuses: Record<string, number> = {};
    for (const [what, attempt] of attempts) statuses[what] = (await attempt()).status;
    expect(statuses).toEqual(Object.fromEntries(attempts.map(([what]) => [what, 403])));
    expect(await pollDevice(edge, d)).toMatchObject({ error: "authorization_pending" });

    // The control: the same request with the admin's own token goes through.
    const ok = await post(victim, token);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("Server connected");
  });
});

// The pages a person sees, in real Chromium (Debian's, via playwright-core) against the real
// edge: each one passes axe-core with no serious or critical violation in light and dark,
// fits a 320 px screen, shows the configured name and logo, and is kept as screenshots at
// 390 and 1280 px (in a temp directory the run names; WICKET_DOCS_SCREENSHOTS=1 also refreshes
// docs/pages/). Every response carries the strict CSP and nothing is fetched from elsewhere.
// The PIN sign-in and the approvals are done with the keyboard alone.
//
// Chromium reaches application hostnames through --host-resolver-rules and does not trust the
// edge's self-signed CA (ignoreHTTPSErrors). The edge's own 500 and "busy" pages cannot be
// provoked from outside on purpose; they are rendered by the same functions and served by a
// small server in this test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, BrowserContextOptions, Page } from "playwright-core";
import { launchChromium } from "./helpers/browser.ts";
import { pinFromLog, pollDevice, startDevice } from "./helpers/signin.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type TestEdge } from "./helpers/wicket.ts";
import { sshConfigStanza } from "../lib/access/ssh-config.ts";
import { checkEdgeConfig, readLogo, type Logo } from "../lib/edge/config/file.ts";
import { powershellInstallFor } from "../lib/edge/http/downloads.ts";
import { busyPage, CSP, edgeErrorPage, LOGO_PATH, logoResponse } from "../lib/edge/http/pages.ts";
import { axe } from "./helpers/axe.ts";

const NAME = "Example Corp";
const ZONE = "site.test";
const APP = `ssh.${ZONE}`;
const LOCKED = `locked.${ZONE}`;
const ADMIN = `admin@${ZONE}`;
const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1d4ed8"/><path d="M9 10l4 12 3-8 3 8 4-12" fill="none" stroke="#fff" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const ROOT = join(import.meta.dir, "..");

let dir: TempDir;
let edge: TestEdge;
let ca: string;
let browser: Browser;
let logo: Logo;
/** Origins a page may load from: the edge, its application hostnames, the test's own renderer. */
const origins = new Set<string>();
const requests: string[] = [];
const responses: { url: string; status: number; csp?: string }[] = [];
const cspErrors: string[] = [];
/** Where the screenshots go: kept after the run. */
const shots = process.env.WICKET_SCREENSHOTS_DIR ?? mkdtempSync(join(tmpdir(), "wicket-page-screenshots-"));
const pagesChecked: string[] = [];

const appUrl = (host: string) => `https://${host}:${edge.port}`;

/** A browser profile whose every request and response is recorded. */
async function context(opts: BrowserContextOptions = {}): Promise<BrowserContext> {
  const c = await browser.newContext({ ignoreHTTPSErrors: true, ...opts });
  c.on("request", (r) => requests.push(r.url()));
  c.on("response", (r) => responses.push({ url: r.url(), status: r.status(), csp: r.headers()["content-security-policy"] }));
  c.on("page", (p) => p.on("console", (m) => m.text().includes("Content Security Policy") && cspErrors.push(`${p.url()}: ${m.text()}`)));
  return c;
}

/** The checks every page passes, and its screenshots, under `name`. */
async function check(page: Page, name: string) {
  pagesChecked.push(name);
  expect({ name, h1: await page.locator("h1").count(), main: await page.getByRole("main").count() }).toEqual({ name, h1: 1, main: 1 });
  expect(await page.getByRole("banner").textContent()).toContain(NAME);
  expect(await page.title()).toContain(NAME);
  expect(await page.evaluate("(() => { const i = document.querySelector('header img'); return !!i && i.complete && i.naturalWidth > 0 })()")).toBe(true);
  // The stylesheet applied (its hash matches the policy): the card has rounded corners.
  expect(await page.evaluate("getComputedStyle(document.querySelector('main')).borderTopLeftRadius")).not.toBe("0px");
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    expect({ name, colorScheme, violations: await axe(page) }).toEqual({ name, colorScheme, violations: [] });
    await page.setViewportSize({ width: 320, height: 800 });
    expect({ name, colorScheme, scrollWidth: await page.evaluate("document.documentElement.scrollWidth") }).toEqual({ name, colorScheme, scrollWidth: 320 });
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: width < 800 ? 844 : 800 });
      await page.screenshot({ path: join(shots, `${name}-${width}-${colorScheme}.png`), fullPage: true });
    }
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Runs `act` and returns the status of the page it leads to (after any redirects). */
async function lands(page: Page, act: () => Promise<unknown>): Promise<number> {
  const answered = page.waitForResponse((r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame() && (r.status() < 300 || r.status() >= 400));
  await act();
  const res = await answered;
  await page.waitForLoadState();
  return res.status();
}

beforeAll(async () => {
  dir = await tempDir("wicket-pages-");
  mkdirSync(shots, { recursive: true });
  writeFileSync(dir.join("logo.svg"), LOGO_SVG);
  logo = readLogo(dir.join("logo.svg")) as Logo;
  mkdirSync(dir.join("downloads"));
  writeFileSync(dir.join("downloads", "SHA256SUMS"), "");
  const config = dir.join("edge.yaml");
  writeFileSync(
    config,
    `dev: true
trusted-proxies: 127.0.0.1
device-poll-interval: 1ms
name: ${NAME}
logo: ${dir.join("logo.svg")}
downloads-dir: ${dir.join("downloads")}
identity-providers:
  - { name: sso, type: oidc, display-name: Company SSO, issuer: "https://sso.invalid", client-id: wicket }
  - { name: email, type: otp }
`,
  );
  [edge, browser] = await Promise.all([startEdge({ dir, extra: ["--config", config] }), launchChromium([`--host-resolver-rules=MAP *.${ZONE} 127.0.0.1`])]);
  ca = readFileSync(edge.caFile, "utf8");
  for (const o of [edge.url, appUrl(APP), appUrl(`nowhere.${ZONE}`)]) origins.add(o);
  await edge.admin(["zone", "add", ZONE, "--admin", ADMIN]);
  for (const [app, rule] of [[APP, `domain:${ZONE}`], [LOCKED, `email:root@${ZONE}`]] as const) {
    await edge.admin(["app", "add", app]);
    await edge.admin(["policy", "add", app, "--name", "people", "--action", "allow", "--include", rule]);
  }
  console.error(`page screenshots: ${shots}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await edge?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("every page the edge serves", () => {
  test("passes axe-core in light and dark, fits 320 px, names the organisation with its logo, and is kept at 390 and 1280 px; errors come with their status", async () => {
    const c = await context();
    const page = await c.newPage();
    expect(await lands(page, () => page.goto(`${edge.url}/`))).toBe(200);
    await check(page, "home");
    expect(await lands(page, () => page.goto(`${edge.url}/no-such-page`))).toBe(404);
    await check(page, "not-found");

    expect(await lands(page, () => page.goto(`${edge.url}/sign-in`))).toBe(200);
    expect(await page.title()).toBe(`Sign in to ${NAME}`);
    await check(page, "sign-in");
    await page.getByLabel("E-mail address").fill("someone@localhost");
    expect(await lands(page, () => page.getByRole("button", { name: "Send me a PIN" }).click())).toBe(400);
    await page.getByText("That is not an e-mail address").waitFor();
    await check(page, "sign-in-error");
    await page.getByLabel("E-mail address").fill(ADMIN);
    expect(await lands(page, () => page.getByRole("button", { name: "Send me a PIN" }).click())).toBe(200);
    const pin = await pinFromLog(edge, ADMIN);
    await check(page, "pin");
    await page.getByLabel("PIN").fill((pin[0] === "2" ? "3" : "2") + pin.slice(1));
    expect(await lands(page, () => page.getByRole("button", { name: "Sign in" }).click())).toBe(400);
    await page.getByText("4 tries left").waitFor();
    await check(page, "pin-wrong");
    await page.getByLabel("PIN").fill(pin);
    expect(await lands(page, () => page.getByRole("button", { name: "Sign in" }).click())).toBe(200);

    expect(await lands(page, () => page.goto(`${edge.url}/device`))).toBe(200);
    await check(page, "device-enter-code");
    await page.getByLabel("Code").fill("BCDF-GHJK");
    expect(await lands(page, () => page.getByRole("button", { name: "Continue" }).click())).toBe(400);
    await page.getByText("That code is unknown or has expired").waitFor();
    await check(page, "device-unknown-code");
    await page.evaluate(`document.querySelector('input[name="csrf"]').value = "stale"`);
    await page.getByLabel("Code").fill("BCDF-GHJK");
    expect(await lands(page, () => page.getByRole("button", { name: "Continue" }).click())).toBe(403);
    await page.getByRole("heading", { name: "Form expired" }).waitFor();
    await check(page, "form-expired");

    const tunnel = await startDevice(edge, "203.0.113.30", { scope: "tunnel" });
    expect(await lands(page, () => page.goto(`${edge.url}/device?user_code=${tunnel.user_code}`))).toBe(200);
    await page.getByText("type the code that its terminal shows").waitFor();
    await check(page, "device-tunnel-link");
    await page.getByLabel("Code").fill(tunnel.user_code);
    expect(await lands(page, () => page.getByRole("button", { name: "Continue" }).click())).toBe(200);
    expect(await page.locator("#user-code").textContent()).toBe(tunnel.user_code);
    await check(page, "device-pick-zone");
    expect(await lands(page, () => page.getByRole("button", { name: "Deny" }).click())).toBe(200);
    await page.getByRole("heading", { name: "Declined" }).waitFor();
    await check(page, "device-declined");

    const app = await startDevice(edge, "203.0.113.31", { scope: "app", resource: `https://${APP}` });
    expect(await lands(page, () => page.goto(app.verification_uri_complete!))).toBe(200);
    // The approval card names the application and the device's address in words.
    const lead = (await page.locator(".lead").textContent())!.replace(/\s+/g, " ");
    expect(lead).toBe(`A wicket command on a computer at the internet address 203.0.113.31 asks to connect to the application ${APP} as you, ${ADMIN}.`);
    expect(await page.locator("#grant").textContent()).toContain("every application on this edge that you may reach");
    await check(page, "device-confirm-app");
    expect(await lands(page, () => page.getByRole("button", { name: "Approve" }).click())).toBe(200);
    await page.getByRole("heading", { name: "Signed in" }).waitFor();
    await check(page, "device-signed-in");
    expect(await lands(page, () => page.goto(app.verification_uri_complete!))).toBe(410);
    await check(page, "device-code-used");

    const locked = await startDevice(edge, "203.0.113.32", { scope: "app", resource: `https://${LOCKED}` });
    expect(await lands(page, () => page.goto(locked.verification_uri_complete!))).toBe(403);
    expect(await page.locator("#reason").textContent()).toContain(`may not reach ${LOCKED}`);
    await check(page, "access-denied");
    expect(await lands(page, () => page.getByRole("button", { name: "Sign out" }).click())).toBe(200);
    await page.getByRole("heading", { name: "Signed out" }).waitFor();
    await check(page, "signed-out");

    expect(await lands(page, () => page.goto(appUrl(APP)))).toBe(200);
    await check(page, "ssh-app");
    expect(await lands(page, () => page.goto(appUrl(`nowhere.${ZONE}`)))).toBe(404);
    await check(page, "unknown-host");
    await c.close();

    const windows = await context({ userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36" });
    const w = await windows.newPage();
    expect(await lands(w, () => w.goto(appUrl(APP)))).toBe(200);
    expect(await w.locator("pre code").first().getAttribute("id")).toBe("install-windows");
    await check(w, "ssh-app-windows");
    await windows.close();

    // One address asking for PINs past its share: 429 with Retry-After, as a page.
    const flood = await context({ extraHTTPHeaders: { "x-forwarded-for": "198.51.100.9" } });
    const f = await flood.newPage();
    let status = 0;
    let retryAfter: string | null = null;
    for (let i = 0; i < 10 && status !== 429; i++) {
      await f.goto(`${edge.url}/sign-in`);
      await f.getByLabel("E-mail address").fill(`person${i}@example.test`);
      const answered = f.waitForResponse((r) => r.request().method() === "POST");
      await f.getByRole("button", { name: "Send me a PIN" }).click();
      const res = await answered;
      [status, retryAfter] = [res.status(), res.headers()["retry-after"] ?? null];
      await f.waitForLoadState();
    }
    expect([status, Number(retryAfter) > 0]).toEqual([429, true]);
    await f.getByRole("heading", { name: "Too many attempts" }).waitFor();
    await check(f, "rate-limited");
    await flood.close();

    // The pages no request can provoke on purpose: the same functions, served here.
    const site = { name: NAME, logo: true };
    await using renderer = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        const path = new URL(req.url).pathname;
        return path === LOGO_PATH ? logoResponse(logo) : path === "/busy" ? busyPage(site, "address") : edgeErrorPage(site);
      },
    });
    origins.add(`http://127.0.0.1:${renderer.port}`);
    const rendered = await context();
    const r = await rendered.newPage();
    expect(await lands(r, () => r.goto(`http://127.0.0.1:${renderer.port}/`))).toBe(500);
    await check(r, "edge-error");
    expect(await lands(r, () => r.goto(`http://127.0.0.1:${renderer.port}/busy`))).toBe(429);
    await check(r, "busy");
    await rendered.close();

    if (process.env.WICKET_DOCS_SCREENSHOTS) {
      mkdirSync(join(ROOT, "docs", "pages"), { recursive: true });
      for (const shot of ["sign-in", "ssh-app", "device-confirm-app"].flatMap((n) => [`${n}-390-light`, `${n}-390-dark`])) copyFileSync(join(shots, `${shot}.png`), join(ROOT, "docs", "pages", `${shot}.png`));
    }
  }, 240_000);

  test("every response carries the strict CSP, and no request leaves the edge's origin", () => {
    expect(pagesChecked.length).toBeGreaterThan(20);
    expect(CSP).not.toContain("unsafe");
    expect(CSP.split(";").map((d) => d.trim().split(" ").slice(1).every((s) => /^'(none|self|sha256-[A-Za-z0-9+/]+=*)'$/.test(s)))).not.toContain(false);
    expect(requests.filter((u) => !origins.has(new URL(u).origin))).toEqual([]);
    expect(responses.filter((r) => r.csp !== CSP).map((r) => `${r.status} ${r.url}`)).toEqual([]);
    expect(cspErrors).toEqual([]);
  });
});

describe("keyboard alone", () => {
  /** Presses Tab until the focused element matches `selector`; every element focused on the way shows a visible outline. */
  async function tabTo(page: Page, selector: string) {
    for (let i = 0; i < 40; i++) {
      const at = (await page.evaluate(
        `(() => { const e = document.activeElement; if (!e || e === document.body) return { body: true }; const s = getComputedStyle(e); return { match: e.matches(${JSON.stringify(selector)}), what: e.outerHTML.slice(0, 80), outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2 } })()`,
      )) as { body?: true; match?: boolean; what?: string; outline?: boolean };
      if (!at.body) expect({ focused: at.what, visible: at.outline }).toEqual({ focused: at.what, visible: true });
      if (at.match) return;
      await page.keyboard.press("Tab");
    }
    throw new Error(`Tab never reached ${selector}`);
  }

  test("the whole PIN sign-in, an application's approval and a zone's, with the keyboard only", async () => {
    const c = await context();
    const page = await c.newPage();
    const d = await startDevice(edge, "203.0.113.50", { scope: "app", resource: `https://${APP}` });
    await page.goto(d.verification_uri_complete!); // the link the terminal shows, pasted into the address bar
    await tabTo(page, 'input[type="email"]');
    await page.keyboard.type(ADMIN);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Enter your PIN" }).waitFor();
    await tabTo(page, "#pin");
    await page.keyboard.type(await pinFromLog(edge, ADMIN));
    await page.keyboard.press("Enter");
    await page.locator("#user-code").waitFor();
    await tabTo(page, 'button[value="approve"]');
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Signed in" }).waitFor();
    expect(await pollDevice(edge, d)).toHaveProperty("access_token");

    const t = await startDevice(edge, "203.0.113.51", { scope: "tunnel" });
    await page.goto(`${edge.url}/device`);
    await tabTo(page, "#user_code");
    await page.keyboard.type(t.user_code);
    await page.keyboard.press("Enter");
    await page.locator("#user-code").waitFor();
    await tabTo(page, `button[name="zone"][value="${ZONE}"]`);
    await page.keyboard.press(" ");
    await page.getByRole("heading", { name: "Server connected" }).waitFor();
    expect(await pollDevice(edge, t)).toMatchObject({ zone: ZONE, email: ADMIN });
    await c.close();
  }, 60_000);
});

describe("the page on an SSH hostname", () => {
  test("installs from this very edge, copies the ssh-config stanza, and shows nothing a stranger should not see", async () => {
    const c = await context({ permissions: ["clipboard-read", "clipboard-write"] });
    const page = await c.newPage();
    await page.goto(appUrl(APP));
    const install = (await page.locator("#install").textContent())!;
    expect(install).toBe(`curl -fsSL ${edge.url}/install.sh | sh`);
    const script = await fetch(install.split(" ")[2]!, { tls: { ca } } as RequestInit);
    expect([script.status, (await script.text()).includes(`WICKET_EDGE_DOWNLOAD_URL='${edge.url}/download'`)]).toEqual([200, true]);
    expect(await page.locator("#install-windows").textContent()).toBe(powershellInstallFor(edge.url));

    await page.getByRole("button", { name: "Copy the install command" }).click();
    await page.getByText("Copied the install command to the clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(install);

    const target = { platform: "linux" as const, command: ["wicket"], home: "~/.wicket" };
    await page.getByRole("button", { name: "Copy the stanza" }).click();
    await page.getByText("Copied the stanza to the clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(sshConfigStanza({ hostname: APP }, target));
    await page.getByRole("button", { name: "Copy the certificate stanza" }).click();
    await page.getByText("Copied the certificate stanza to the clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(sshConfigStanza({ hostname: APP, shortLivedCert: true }, target));

    const text = (await page.locator("body").textContent())!;
    for (const secret of [LOCKED, "people", ADMIN, "policy", edge.dataDir]) expect({ secret, shown: text.includes(secret) }).toEqual({ secret, shown: false });
    await c.close();
  }, 60_000);

  test("the PowerShell line the page shows is the deploy guide's, for this edge", () => {
    const guide = readFileSync(join(ROOT, "docs", "deploy.md"), "utf8");
    expect(guide).toContain(powershellInstallFor("https://edge.site.com"));
  });
});

describe("name and logo", () => {
  test("with neither configured, the pages name the public host and show no image", async () => {
    await using plainDir = await tempDir("wicket-pages-plain-");
    await using plain = await startEdge({ dir: plainDir });
    const res = await fetch(`${plain.url}/sign-in`, { tls: { ca: readFileSync(plain.caFile, "utf8") } } as RequestInit);
    const html = await res.text();
    expect(html).toContain(`<title>Sign in to 127.0.0.1:${plain.port}</title>`);
    expect(html).not.toContain("<img");
    expect(res.headers.get("content-security-policy")).toBe(CSP);
  });

  test("a logo that is not an image file, or is missing, stops the edge with the key and the reason", () => {
    writeFileSync(dir.join("logo.txt"), "hello");
    expect(() => checkEdgeConfig({ logo: dir.join("logo.txt") }, "edge.yaml")).toThrow(`edge.yaml: "logo" ${dir.join("logo.txt")} is not an image wicket serves`);
    expect(() => checkEdgeConfig({ logo: dir.join("gone.png") }, "edge.yaml")).toThrow("no such file");
    expect(checkEdgeConfig({ name: " Example Corp ", logo: dir.join("logo.svg") }, "edge.yaml")).toMatchObject({ name: "Example Corp", logo: { type: "image/svg+xml" } });
  });
});

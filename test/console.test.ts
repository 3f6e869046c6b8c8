// The admin console at /admin in real Chromium, on the real edge, with the real PIN sign-in: a
// zone admin adds an application, a service token and a policy in their zone, asks the what-if
// box, sees a live `ssh` session through the application (real sshd, real ssh with the compiled
// `wicket access ssh` as ProxyCommand) and revokes it (ssh ends with the edge's sentence), and sees
// nothing of another zone, nor may change it by a forged form; an edge admin sees every zone and
// the nodes; a signed-in person who administers nothing is told so. Each page passes axe-core in
// light and dark and fits 320 px; WICKET_DOCS_SCREENSHOTS=1 writes its screenshots to docs/pages/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { PIN_PATTERN } from "../lib/store/sign-in-starts.ts";
import { launchChromium } from "./helpers/browser.ts";
import { spawnProc } from "./helpers/proc.ts";
import { startSshd, type Sshd } from "./helpers/sshd.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type TestEdge } from "./helpers/wicket.ts";
import { checkPage } from "./helpers/axe.ts";

const ROOT = join(import.meta.dir, "..");
const shots = process.env.WICKET_SCREENSHOTS_DIR ?? mkdtempSync(join(tmpdir(), "wicket-console-screenshots-"));
const SHOWN = ["console-zones", "console-app", "console-sessions", "console-audit"];

let dir: TempDir;
let edge: TestEdge;
let browser: Browser;
let sshd: Sshd;

const pinFor = async (email: string) => (await edge.proc.waitForLine(new RegExp(`the PIN for ${email.replace(/\./g, "\\.")} is (${PIN_PATTERN})`), { stream: "stderr" }))[1]!;

/** A browser of its own for `email`, signed in at /admin with a PIN; the page is back at /admin. */
async function signedIn(email: string): Promise<Page> {
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await page.goto(`${edge.url}/admin`);
  expect(new URL(page.url()).pathname).toBe("/sign-in");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByRole("button", { name: "Send me a PIN" }).click();
  await page.getByLabel("PIN").fill(await pinFor(email));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/admin$/);
  return page;
}

const notice = (page: Page) => page.getByRole("main").locator(".notice").first().textContent();

beforeAll(async () => {
  dir = await tempDir("wicket-console-");
  const config = dir.join("edge.yaml");
  writeFileSync(config, "dev: true\ntrusted-proxies: 127.0.0.1\nadmins: [email:root@ops.test]\nname: Example Corp\n");
  [edge, browser, sshd] = await Promise.all([startEdge({ dir, extra: ["--config", config] }), launchChromium(), startSshd()]);
  await edge.admin(["zone", "add", "a.test", "--admin", "alice@a.test"]);
  await edge.admin(["zone", "add", "b.test", "--admin", "bob@b.test"]);
  await edge.admin(["app", "add", "ssh.b.test"]);
  await edge.admin(["policy", "add", "ssh.b.test", "--name", "b-team", "--action", "allow", "--include", "domain:b.test"]);
  // carol may reach an application (so she gets a PIN) and administers nothing
  await edge.admin(["policy", "add", "ssh.b.test", "--name", "carol", "--action", "allow", "--include", "email:carol@a.test"]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await edge?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
  console.error(`console screenshots: ${shots}`);
});

describe("the admin console", () => {
  test("a zone admin: an application, a token and a policy in their zone, the what-if box, a live ssh session revoked (ssh ends); nothing of another zone", async () => {
    const page = await signedIn("alice@a.test");
    expect(await page.getByRole("main").textContent()).not.toContain("b.test");
    await page.getByLabel("Hostname of a new application").fill("ssh.a.test");
    await page.getByRole("button", { name: "Add application" }).click();
    expect(await notice(page)).toBe("Added the application ssh.a.test.");
    await checkPage(page, "console-zones", shots);

    await page.getByRole("link", { name: "Service tokens" }).click();
    await page.getByLabel("Name of a new service token").fill("a-ci");
    await page.getByRole("button", { name: "Create token" }).click();
    const [, id, secret] = /id (\S+), secret (\S+)\. The secret is shown this once/.exec((await notice(page)) ?? "")!;

    await page.goto(`${edge.url}/admin/app?host=ssh.a.test`);
    await page.getByLabel("Name").fill("ci");
    await page.getByLabel("Include (rules, comma-separated)").fill("token:a-ci");
    await page.getByRole("button", { name: "Add policy" }).click();
    expect(await notice(page)).toBe(`Added the policy "ci" to ssh.a.test.`);
    // the CLI sees it at once
    expect(JSON.parse(await edge.admin(["policy", "list", "ssh.a.test", "--json"]))).toMatchObject([{ name: "ci", action: "allow" }]);
    await page.getByLabel("E-mail").fill("alice@a.test");
    await page.getByLabel("From the address").fill("10.0.0.1");
    await page.getByRole("button", { name: "Would they be let in?" }).click();
    expect(await page.locator("#what-if-answer").textContent()).toContain("alice@a.test");
    await checkPage(page, "console-app", shots);

    // a live ssh session through the application, seen and revoked in the console
    await edge.tunnel("ssh.a.test", `ssh://127.0.0.1:${sshd.port}`, ["--ha-connections", "1"]);
    const client = await sshd.client("ssh.a.test", { proxyCommand: edge.proxyCommand({ id: id!, secret: secret!, name: "a-ci" }) });
    await using ssh = spawnProc(["ssh", ...client.args, "ssh.a.test", "echo ready; sleep 600"], { name: "ssh" });
    await ssh.waitForLine(/^ready$/, { stream: "stdout", timeoutMs: 15_000 });
    // and one through another zone's application, which she must not see
    const bToken = JSON.parse(await edge.admin(["token", "create", "b-ci", "--json"])) as { id: string; secret: string };
    await edge.admin(["policy", "add", "ssh.b.test", "--name", "ci", "--action", "allow", "--include", "token:b-ci"]);
    await edge.tunnel("ssh.b.test", `ssh://127.0.0.1:${sshd.port}`, ["--ha-connections", "1"]);
    const bClient = await sshd.client("ssh.b.test", { proxyCommand: edge.proxyCommand({ ...bToken, name: "b-ci" }) });
    await using bSsh = spawnProc(["ssh", ...bClient.args, "ssh.b.test", "echo ready; sleep 600"], { name: "ssh b.test" });
    await bSsh.waitForLine(/^ready$/, { stream: "stdout", timeoutMs: 15_000 });
    await page.getByRole("link", { name: "Live sessions" }).click();
    expect(await page.getByRole("main").textContent()).not.toContain("b.test");
    const revoke = page.getByRole("button", { name: /^Revoke / });
    expect(await revoke.count()).toBe(1);
    expect(await page.getByRole("main").textContent()).toContain("token:a-ci");
    await checkPage(page, "console-sessions", shots);
    await revoke.click();
    const [, session] = /^Revoked the session (\S+); it is ended\.$/.exec((await notice(page)) ?? "") ?? [];
    expect(session).toBeDefined();
    expect({ code: await ssh.exited, stderr: ssh.stderr() }).toEqual({ code: 255, stderr: expect.stringContaining(`session ${session} was revoked by an admin`) });
    // the other zone's session lives on until its own admin ends it
    expect(bSsh.exitCode).toBeUndefined();
    const [left] = JSON.parse(await edge.admin(["session", "list", "--json"])) as { id: string; host: string }[];
    expect(left!.host).toBe("ssh.b.test");
    await edge.admin(["session", "revoke", left!.id]);
    expect(await bSsh.exited).toBe(255);

    await page.goto(`${edge.url}/admin/audit?host=ssh.a.test`);
    expect(await page.getByRole("main").textContent()).toContain("was revoked by an admin");
    await checkPage(page, "console-audit", shots);
    const csv = await page.request.get(`${edge.url}/admin/audit.csv?host=ssh.a.test`);
    expect(csv.status()).toBe(200);
    expect((await csv.text()).split("\r\n")[0]).toBe("id,at,kind,allowed,identity,actor,action,host,app,ip,policyName,rule,reason,target,sessionId");
    const jsonl = (await (await page.request.get(`${edge.url}/admin/audit.jsonl?kind=admin`)).text()).trim().split("\n").map((l) => JSON.parse(l) as { actor: string; host?: string; target?: string });
    expect(jsonl.map((r) => r.actor)).toContain("alice@a.test");
    // her zone's changes, whoever made them; none of b.test's
    expect(jsonl.filter((r) => `${r.host ?? ""} ${r.target ?? ""}`.includes("b.test"))).toEqual([]);

    // another zone: by link and by a forged form, 403 with one sentence
    const other = await page.goto(`${edge.url}/admin/app?host=ssh.b.test`);
    expect(other!.status()).toBe(403);
    expect(await notice(page)).toBe("alice@a.test administers the zone a.test, and the hostname ssh.b.test is not in them; ask an admin of its zone");
    await page.goto(`${edge.url}/admin`);
    const token = await page.locator('input[name="csrf"]').first().getAttribute("value");
    const forged = await page.request.post(`${edge.url}/admin/do/app-remove`, { form: { csrf: token!, hostname: "ssh.b.test" } });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain("the application ssh.b.test is not in them");
    const noToken = await page.request.post(`${edge.url}/admin/do/app-add`, { form: { hostname: "x.a.test" } });
    expect(noToken.status()).toBe(403);
    expect(JSON.parse(await edge.admin(["app", "list", "--json"])).map((a: { hostname: string }) => a.hostname)).toEqual(["ssh.a.test", "ssh.b.test"]);
    const wide = await page.goto(`${edge.url}/admin/nodes`);
    expect(wide!.status()).toBe(403);
    await page.context().close();
  }, 120_000);

  test("an edge admin sees every zone and the nodes", async () => {
    const page = await signedIn("root@ops.test");
    const main = (await page.getByRole("main").textContent()) ?? "";
    expect(main).toContain("a.test");
    expect(main).toContain("ssh.b.test");
    await page.getByRole("link", { name: "Nodes and certificates" }).click();
    expect(await page.locator("h1").textContent()).toBe("Nodes and certificates");
    await page.context().close();
  }, 60_000);

  test("a signed-in person who administers nothing is told so", async () => {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`${edge.url}/admin`);
    await page.getByLabel("E-mail address").fill("carol@a.test");
    await page.getByRole("button", { name: "Send me a PIN" }).click();
    await page.getByLabel("PIN").fill(await pinFor("carol@a.test"));
    const [res] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === "/admin"), page.getByRole("button", { name: "Sign in" }).click()]);
    expect(res.status()).toBe(403);
    expect(await page.locator("h1").textContent()).toBe("You administer nothing here");
    expect(await notice(page)).toContain("carol@a.test (signed in with email) administers nothing on this edge");
    await checkPage(page, "console-nothing", shots);
    await page.context().close();

    if (process.env.WICKET_DOCS_SCREENSHOTS) {
      mkdirSync(join(ROOT, "docs", "pages"), { recursive: true });
      for (const shot of SHOWN.flatMap((n) => [`${n}-1280-light`, `${n}-1280-dark`])) copyFileSync(join(shots, `${shot}.png`), join(ROOT, "docs", "pages", `${shot}.png`));
    }
  }, 60_000);
});

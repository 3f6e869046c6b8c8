// The console's recordings and zone credentials, in real Chromium on the real edge: zone admins
// record a terminal session each in their own zone's application (xterm.js, the edge as the SSH
// client, a real sshd); Alice sees her zone's recording in the console and plays it (the player
// shows what was typed), sees none of Bob's, and is refused his by its address with one sentence
// and 403; she issues a zone credential (shown once, and it works), and revokes it (refused
// from then on). The console's pages pass axe-core in light and dark and fit 320 px.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { checkPage } from "./helpers/axe.ts";
import { launchChromium, profiles } from "./helpers/browser.ts";
import { ensureUnixUser, startSshd, type Sshd } from "./helpers/sshd.ts";
import { pinFromLog } from "./helpers/signin.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type TestEdge } from "./helpers/wicket.ts";

const ALICE = "alice@a.test";
const BOB = "bob@b.test";

let dir: TempDir;
let edge: TestEdge;
let sshd: Sshd;
let browser: Browser;
const browserOf = profiles(() => browser, { viewport: { width: 1280, height: 800 } });

/** `who` signs in on the application's terminal page, runs `command` and leaves: the session's recording, whole. */
async function recordSession(who: string, host: string, command: string): Promise<void> {
  const page = await (await browserOf(who)).newPage();
  await page.goto(`https://${host}:${edge.port}/`);
  await page.getByLabel("E-mail address").fill(who);
  await page.getByRole("button", { name: "Send me a PIN" }).click();
  await page.getByLabel("PIN").fill(await pinFromLog(edge, who));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('body[data-state="connected"]').waitFor({ timeout: 20_000 });
  await page.locator("#terminal").click();
  await page.keyboard.type(`${command}; exit\n`);
  await page.locator("#closed").waitFor({ state: "visible", timeout: 20_000 });
  // the edge logs the session's end once its recording is finished
  await edge.proc.waitForLine(new RegExp(`session \\S+ of ${who.replace(/\./g, "\\.")} to ${host.replace(/\./g, "\\.")} ended`), { stream: "stderr", timeoutMs: 20_000 });
  await page.close();
}

// WICKET_DOCS_SCREENSHOTS=1 writes the screenshots into docs/pages, as test/console.test.ts does
const shots = process.env.WICKET_DOCS_SCREENSHOTS ? join(import.meta.dir, "..", "docs", "pages") : undefined;

/** At 1280 px each table fits its card: every id and time on one line, every row's button whole inside the table's region. */
async function fitsItsTable(page: Page) {
  const region = (await page.locator("div.table").first().boundingBox())!;
  for (const cell of await page.locator("div.table td code, div.table td time, div.table td button").all()) {
    const box = (await cell.boundingBox())!;
    const what = await cell.evaluate((e) => `${e.tagName.toLowerCase()} ${e.textContent}`);
    expect({ what, oneLine: box.height < 40, inside: box.x >= region.x && box.x + box.width <= region.x + region.width }).toEqual({ what, oneLine: true, inside: true });
  }
}

const notice = (page: Page) => page.getByRole("main").locator(".notice").first().textContent();
const recordingIds = async (who: string) => (JSON.parse(await edge.admin(["recording", "list", "--json", "--user", who])) as { id: string }[]).map((r) => r.id);

beforeAll(async () => {
  for (const u of ["alice", "bob"]) await ensureUnixUser(u);
  dir = await tempDir("wicket-console-pages-");
  const config = dir.join("edge.yaml");
  writeFileSync(config, "dev: true\ntrusted-proxies: 127.0.0.1\n");
  [edge, browser] = await Promise.all([startEdge({ dir, extra: ["--config", config] }), launchChromium(["--host-resolver-rules=MAP *.a.test 127.0.0.1,MAP *.b.test 127.0.0.1"])]);
  const cas: string[] = [];
  for (const [zone, who] of [["a.test", ALICE], ["b.test", BOB]] as const) {
    await edge.admin(["zone", "add", zone, "--admin", who]);
    await edge.admin(["app", "add", `ssh.${zone}`, "--browser-ssh", "--record"]);
    await edge.admin(["policy", "add", `ssh.${zone}`, "--name", "admin", "--action", "allow", "--include", `email:${who}`]);
    cas.push((await edge.admin(["ssh-ca", `ssh.${zone}`])).trim());
  }
  sshd = await startSshd({ trustedUserCAKeys: cas.join("\n"), authorizeClientKey: false });
  for (const zone of ["a.test", "b.test"]) await edge.tunnel(`ssh.${zone}`, `ssh://127.0.0.1:${sshd.port}`);
  await recordSession(ALICE, "ssh.a.test", "echo alice-$((6*7))");
  await recordSession(BOB, "ssh.b.test", "echo bob-$((5*5))");
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await edge?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("the console's recordings and zone credentials", () => {
  test("a zone admin sees and plays their zone's recording; another zone's is not listed, and refused by its address with one sentence", async () => {
    const [mine] = await recordingIds(ALICE);
    const [theirs] = await recordingIds(BOB);
    // Alice's browser is signed in on the edge's host since the terminal's sign-in
    const page = await (await browserOf(ALICE)).newPage();
    await page.goto(`${edge.url}/admin`);
    await page.getByRole("link", { name: "Recordings" }).click();
    const main = page.getByRole("main");
    expect(await main.textContent()).toContain(mine!);
    expect(await main.textContent()).not.toContain(theirs!);
    expect(await main.textContent()).not.toContain("ssh.b.test");
    await checkPage(page, "console-recordings", shots);
    await fitsItsTable(page);

    await page.getByRole("link", { name: mine! }).click();
    expect(new URL(page.url()).pathname).toBe(`/admin/recordings/${mine}`);
    await page.locator(".ap-player").waitFor({ timeout: 15_000 });
    await page.getByText("alice-42", { exact: true }).first().waitFor({ timeout: 20_000 });

    for (const path of [`/admin/recordings/${theirs}`, `/admin/recordings/${theirs}.cast`]) {
      const refused = await page.goto(`${edge.url}${path}`);
      expect({ path, status: refused?.status() }).toEqual({ path, status: 403 });
      expect(await notice(page)).toBe(`${ALICE} administers the zone a.test, and the recording ${theirs} is not in them; ask an admin of its zone`);
    }
    // an old link to the player goes on to the console's, and another zone's is refused there, its asciicast too
    await page.goto(`${edge.url}/recordings/${mine}`);
    expect(new URL(page.url()).pathname).toBe(`/admin/recordings/${mine}`);
    for (const path of [`/recordings/${theirs}`, `/recordings/${theirs}.cast`]) {
      const refused = await page.goto(`${edge.url}${path}`);
      expect({ path, status: refused?.status(), at: new URL(page.url()).pathname }).toEqual({ path, status: 403, at: `/admin${path}` });
    }
    await page.close();

    // an old link leads only to the console's player: any other shape is no recording, never a redirect elsewhere
    const ca = readFileSync(edge.caFile, "utf8");
    const ask = (path: string, cookie?: string) => fetch(`${edge.url}${path}`, { redirect: "manual", headers: cookie ? { cookie } : {}, tls: { ca } });
    for (const path of ["/recordings//evil.example", "/recordings/%2F%2Fevil.example", "/recordings/rec_x%2F%2Fevil.example", "/recordings/rec_x/..%2F..%2Fevil", "/recordings/%5Cevil.example", `/recordings/${mine}%0d%0aSet-Cookie:x=1`, "/recordings/rec_x.cast.html"]) {
      const r = await ask(path);
      expect({ path, status: r.status, location: r.headers.get("location") }).toEqual({ path, status: 404, location: null });
    }
    // without a sign-in: the sign-in page, and not a byte of the recording
    for (const path of [`/admin/recordings/${mine}`, `/admin/recordings/${mine}.cast`]) {
      const r = await ask(path);
      expect({ path, status: r.status, location: r.headers.get("location"), body: await r.text() }).toEqual({ path, status: 303, location: `/sign-in?return=${encodeURIComponent(path)}`, body: "" });
    }
  }, 60_000);

  test("a zone admin issues a zone credential, shown once and working, and revokes it", async () => {
    const page = await (await browserOf(ALICE)).newPage();
    await page.goto(`${edge.url}/admin/credentials`);
    expect(await page.getByRole("main").textContent()).not.toContain("b.test");
    await page.getByRole("button", { name: "Issue a zone credential" }).click();
    const said = (await notice(page)) ?? "";
    const id = /^Issued the zone credential (\S+) for a\.test\. It is shown this once/.exec(said)?.[1];
    expect(id, said).toBeDefined();
    const pem = (await page.locator("#secret").textContent()) ?? "";
    expect(pem).toContain("-----BEGIN WICKET ZONE CREDENTIAL-----");
    await checkPage(page, "console-credentials", shots);
    await fitsItsTable(page);
    const file = dir.join("alice-cert.pem");
    writeFileSync(file, pem, { mode: 0o600 });
    const list = () => wicket(["tunnel", "list", "--origincert", file, "--ca-file", edge.caFile]);
    const works = await list();
    expect(works.code, works.stderr).toBe(0);
    // once: the page reloaded shows it no more, only in the list
    await page.goto(`${edge.url}/admin/credentials`);
    expect(await page.locator("#secret").count()).toBe(0);
    await page.getByRole("button", { name: `Revoke ${id}` }).click();
    expect(await notice(page)).toBe(`Revoked the zone credential ${id}; the tunnels it made are disabled and their connectors cut.`);
    const refused = await list();
    expect(refused.code, refused.stderr).toBe(77);
    await page.close();
  }, 60_000);
});

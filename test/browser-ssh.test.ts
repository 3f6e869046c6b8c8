// SSH in the browser, end to end: real Chromium (Debian's, via playwright-core) signs in with
// a one-time PIN (the edge runs with --dev and logs PINs), opens an application's hostname and
// types into xterm.js; the edge is the SSH client over the connector's stream to a real sshd
// that trusts only the application's CA. Recordings are exported with the real CLI and played
// in the bundled asciinema-player. Chromium reaches application hostnames through
// --host-resolver-rules and does not trust the edge's own CA (ignoreHTTPSErrors), as in the
// sign-in tests; everything else verifies TLS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium, profiles } from "./helpers/browser.ts";
import { expectExit, run, type Proc } from "./helpers/proc.ts";
import { ensureUnixUser, startSshd, type Sshd } from "./helpers/sshd.ts";
import { pinFromLog } from "./helpers/signin.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type TestEdge } from "./helpers/wicket.ts";

const ZONE = "site.test";
const APP = `ssh.${ZONE}`;
const HK = `hk.${ZONE}`;
const ALICE = `alice@${ZONE}`;
const BOB = `bob@${ZONE}`;
const CAROL = `carol@${ZONE}`;
/** The edge with a short idle timeout: a zone of its own, so no cookie of the other edge's reaches it. */
const IDLE_ZONE = "idle.test";
const IDLE_APP = `ssh.${IDLE_ZONE}`;
const DAVE = `alice@${IDLE_ZONE}`;
const ROOT_DIR = join(import.meta.dir, "..");
/** Where the screenshots go: kept after the run. */
const shots = process.env.WICKET_SCREENSHOTS_DIR ?? mkdtempSync(join(tmpdir(), "wicket-terminal-screenshots-"));

let dir: TempDir;
let edge: TestEdge;
let sshd: Sshd;
let browser: Browser;

const appUrl = (host: string, e = edge) => `https://${host}:${e.port}/`;
/** One browser profile per person: its cookies are that person's sign-in. */
const browserOf = profiles(() => browser, { viewport: { width: 1000, height: 600 } });

/** Opens the application in `who`'s browser, signing in with a PIN if the edge asks. */
async function open(who: string, host = APP, e = edge): Promise<Page> {
  const page = await (await browserOf(who)).newPage();
  await page.goto(appUrl(host, e));
  if (new URL(page.url()).pathname === "/sign-in") {
    await page.getByLabel("E-mail address").fill(who);
    await page.getByRole("button", { name: "Send me a PIN" }).click();
    await page.getByLabel("PIN").fill(await pinFromLog(e, who));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.hostname === host || u.pathname !== "/sign-in/pin");
  }
  return page;
}

/** What the terminal shows, line by line (xterm.js's buffer, as a person reads it). */
const screen = (page: Page) =>
  page.evaluate(() => {
    const b = (globalThis as unknown as { wicketTerminal: { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } }).wicketTerminal.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? "");
    return out;
  });

async function connected(page: Page) {
  await page.locator('body[data-state="connected"]').waitFor({ timeout: 20_000 });
}

/** Types a command and waits for a line of output that matches. */
async function runIn(page: Page, command: string, want: RegExp): Promise<string> {
  await page.locator("#terminal").click();
  await page.keyboard.type(`${command}\n`);
  let lines: string[] = [];
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    lines = await screen(page);
    // the output comes after the last line that shows the command typed
    const typed = lines.findLastIndex((l) => l.includes(command));
    const hit = typed < 0 ? undefined : lines.slice(typed + 1).find((l) => want.test(l));
    if (hit) return hit;
    await page.waitForTimeout(50); // polling xterm's buffer: it has no "line written" event
  }
  throw new Error(`no line matching ${want} after "${command}"; the terminal shows:\n${lines.filter(Boolean).join("\n")}`);
}

const closedWhy = async (page: Page, timeout = 20_000) => {
  await page.locator("#closed").waitFor({ state: "visible", timeout });
  return (await page.locator("#why").textContent()) ?? "";
};

/** The lines of sshd's log so far. */
const sshdLog = (s: Sshd = sshd) => s.proc.stderr().split("\n");

/** A browser-SSH application on `e` that lets in `people` (e-mail addresses): the SSH CA its servers trust. */
async function terminalApp(e: TestEdge, host: string, people: string[], extra: string[] = []): Promise<string> {
  await e.admin(["app", "add", host, "--browser-ssh", ...extra]);
  await e.admin(["policy", "add", host, "--name", "people", "--action", "allow", ...people.flatMap((p) => ["--include", `email:${p}`])]);
  return (await e.admin(["ssh-ca", host])).trim();
}

beforeAll(async () => {
  for (const u of ["alice", "bob"]) await ensureUnixUser(u);
  dir = await tempDir("wicket-browser-ssh-");
  mkdirSync(shots, { recursive: true });
  const config = dir.join("edge.yaml");
  writeFileSync(config, `dev: true\nidentity-providers:\n  - { name: email, type: otp }\n`);
  [edge, browser] = await Promise.all([startEdge({ dir, extra: ["--config", config] }), launchChromium([`--host-resolver-rules=MAP *.${ZONE} 127.0.0.1,MAP *.${IDLE_ZONE} 127.0.0.1`])]);
  await edge.admin(["zone", "add", ZONE, "--admin", ALICE]);
  sshd = await startSshd({ trustedUserCAKeys: await terminalApp(edge, APP, [ALICE, BOB], ["--record"]), authorizeClientKey: false });
  await edge.tunnel(APP, `ssh://127.0.0.1:${sshd.port}`);
  console.error(`terminal screenshots: ${shots}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await edge?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

describe("SSH in the browser", () => {
  let recorded: Page;

  test("a person signs in with a PIN, gets a terminal as their own Unix user, and a command's output shows", async () => {
    const page = await open(ALICE);
    expect(new URL(page.url()).hostname).toBe(APP);
    await connected(page);
    expect(await runIn(page, "echo wicket-$((6*7))", /^wicket-42$/)).toBe("wicket-42");
    expect(await runIn(page, "id -un", /^\w+$/)).toBe("alice");
    expect(await runIn(page, "echo $TERM $(tput colors)", /^xterm/)).toBe("xterm-256color 256");
    expect(await runIn(page, "printf '\\303\\251t\\303\\251 \\342\\234\\223\\n'", /^été/)).toBe("été ✓");
    // sshd let the certificate in for alice, naming who and which session, and no one else
    const accepted = sshdLog().filter((l) => /Accepted publickey/.test(l));
    expect(accepted.length).toBe(1);
    expect(accepted[0]).toMatch(new RegExp(`Accepted publickey for alice .*ED25519-CERT.*ID ${ALICE.replace(/\./g, "\\.")} ses_\\S+ browser`));
    await page.screenshot({ path: join(shots, "terminal.png") });
    // the picture in docs/terminal.md (a terminal is dark whatever the system's scheme)
    if (process.env.WICKET_DOCS_SCREENSHOTS) await page.screenshot({ path: join(ROOT_DIR, "docs", "pages", "terminal-1280.png") });
    recorded = page;
  });

  test("resizing the window changes the terminal's size on the server", async () => {
    const page = recorded;
    const before = await runIn(page, "stty size", /^\d+ \d+$/);
    await page.setViewportSize({ width: 640, height: 360 });
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) after = (await runIn(page, `stty size # ${i}`, /^\d+ \d+$/)).trim();
    const [r0, c0] = before.split(" ").map(Number);
    const [r1, c1] = after.split(" ").map(Number);
    expect(r1!).toBeLessThan(r0!);
    expect(c1!).toBeLessThan(c0!);
  });

  test("the session's end says why and offers to reconnect; the recording is valid asciicast v2 with the output, and the audit names it", async () => {
    const page = recorded;
    await page.locator("#terminal").click();
    await page.keyboard.type("exit\n");
    expect(await closedWhy(page)).toBe("The shell exited with status 0.");
    expect(await page.getByRole("button", { name: "Reconnect" }).isVisible()).toBe(true);

    const [rec] = JSON.parse(await edge.admin(["recording", "list", "--json", "--user", ALICE]));
    expect(rec).toMatchObject({ host: APP, identity: ALICE, principal: "alice", input: false });
    let cast = await edge.admin(["recording", "export", rec.id]);
    for (let i = 0; i < 40 && !/"o","[^"]*exit/.test(cast); i++) cast = await edge.admin(["recording", "export", rec.id]); // the last lines land as the session ends
    const [header, ...events] = cast.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(header).toMatchObject({ version: 2, width: expect.any(Number), height: expect.any(Number) });
    const times = events.map((e: [number, string, string]) => e[0]);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(events.every((e: unknown[]) => e[1] === "o" || e[1] === "r")).toBe(true); // no keystrokes without --record-input
    const output = events.filter((e: unknown[]) => e[1] === "o").map((e: unknown[]) => e[2]).join("");
    expect(output).toContain("\r\nwicket-42\r\n");
    expect(events.some((e: unknown[]) => e[1] === "r")).toBe(true); // the resize

    const audit = JSON.parse(`[${(await edge.admin(["audit", "--json", "--host", APP])).trim().split("\n").join(",")}]`);
    const end = audit.find((r: { kind: string; recording?: string }) => r.kind === "session-end" && r.recording === rec.id);
    expect(end).toMatchObject({ identity: ALICE, reason: "The shell exited with status 0." });

    // the admin of the zone plays it on the edge's host
    const player = await (await browserOf(ALICE)).newPage();
    await player.goto(`${edge.url}/recordings/${rec.id}`);
    await player.locator(".ap-player").waitFor({ timeout: 15_000 });
    await player.getByText("wicket-42", { exact: true }).first().waitFor({ timeout: 20_000 });
    await player.screenshot({ path: join(shots, "playback.png") });
    // a reconnect is a new session, and a new recording
    await page.getByRole("button", { name: "Reconnect" }).click();
    await connected(page);
    expect(JSON.parse(await edge.admin(["recording", "list", "--json", "--user", ALICE])).length).toBe(2);
    await page.close();
  });

  // Failed before: the code was bound to the hostname only, so a code Bob made for his own
  // sign-in, sent to Alice as a link, signed Alice's browser in as Bob, and what she then typed
  // went to Bob's account on the server.
  test("a sign-in code made in one browser does not sign another in", async () => {
    const alice = await open(ALICE);
    await connected(alice);
    const bob = await open(BOB);
    await connected(bob);
    const made = await bob.context().request.get(`${edge.url}/browser-ssh?host=${APP}&state=${"b".repeat(43)}`, { maxRedirects: 0 });
    const link = made.headers()["location"]!;
    expect(link).toContain("/.wicket/session?code=");
    const page = await alice.context().newPage();
    const res = await page.goto(link);
    expect(res?.status()).toBe(400);
    expect(await page.locator("main").textContent()).toContain("started in another browser");
    // Alice's own sign-in there is untouched
    await page.goto(appUrl(APP));
    await connected(page);
    expect(await runIn(page, "id -un", /^\w+$/)).toBe("alice");
    // and a hand-off started anywhere but on the application's host goes there first
    const bare = await bob.context().request.get(`${edge.url}/browser-ssh?host=${APP}`, { maxRedirects: 0 });
    expect(bare.headers()["location"]).toBe(appUrl(APP));
    for (const p of [alice, bob, page]) await p.close();
  });

  test("two tabs that start signing in at once both get in", async () => {
    await (await open(ALICE)).close(); // signed in at the edge
    const session = (await (await browserOf(ALICE)).cookies(edge.url)).map((c) => `${c.name}=${c.value}`).join("; ");
    const ca = readFileSync(edge.caFile, "utf8");
    // what the browser holds on the application's host: its hand-off cookie
    let onApp = "";
    const get = async (url: string, host?: string, cookie = "") => {
      const res = await fetch(url, { headers: { accept: "text/html", cookie, ...(host ? { host } : {}) }, redirect: "manual", tls: { ca }, ...({} as object) } as RequestInit);
      const set = res.headers.getSetCookie().find((c) => c.startsWith("__Host-wicket-handoff="));
      if (host && set) onApp = set.split(";")[0]!;
      return { status: res.status, location: res.headers.get("location") ?? "" };
    };
    const app = (path: string) => get(`https://127.0.0.1:${edge.port}${path}`, APP, onApp);
    // two tabs open the application before either is signed in there: two hand-offs begun
    const begun = [await app("/"), await app("/")].map((r) => r.location);
    expect(begun.every((u) => u.startsWith(`${edge.url}/browser-ssh?`))).toBe(true);
    // each comes back from the edge with its code, and each code signs its tab in
    for (const u of begun) {
      const back = new URL((await get(u, undefined, session)).location);
      expect(back.pathname).toBe("/.wicket/session");
      expect(await app(back.pathname + back.search)).toEqual({ status: 303, location: "/" });
    }
  });

  test("revoking the user closes the terminal within a second, and the page says why", async () => {
    const page = await open(BOB);
    await connected(page);
    expect(await runIn(page, "id -un", /^\w+$/)).toBe("bob");
    const t0 = Date.now();
    await edge.admin(["user", "revoke", BOB]);
    const why = await closedWhy(page);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(why).toContain(`the sign-in of ${BOB} was revoked`);
  });

  test("someone the policy refuses gets the denial page, and no SSH connection is made", async () => {
    // carol may reach another application, so a PIN is mailed to her (none is to a mailbox no policy names)
    await edge.admin(["app", "add", `other.${ZONE}`]);
    await edge.admin(["policy", "add", `other.${ZONE}`, "--name", "carol", "--action", "allow", "--include", `email:${CAROL}`]);
    const connections = () => sshdLog().filter((l) => /Connection from|Accepted/.test(l)).length;
    const before = connections();
    const page = await open(CAROL);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Access denied");
    expect(await page.locator("#reason").textContent()).toContain(`${CAROL} (signed in with email) may not reach ${APP}`);
    expect(connections()).toBe(before);
    await page.close();
  });

  test("the terminal's WebSocket refuses another origin, even with the person's cookies and token", async () => {
    const page = await open(ALICE);
    await connected(page);
    const token = await page.locator("body").getAttribute("data-token");
    const cookies = (await page.context().cookies(appUrl(APP))).map((c) => `${c.name}=${c.value}`).join("; ");
    const socket = (origin: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`wss://${APP}:${edge.port}/.wicket/terminal?token=${token}`, {
          headers: { origin, cookie: cookies, host: `${APP}:${edge.port}` },
          tls: { ca: readFileSync(edge.caFile, "utf8"), checkServerIdentity: () => undefined },
        } as unknown as string[]);
        ws.onopen = () => (ws.close(), resolve("open"));
        ws.onerror = () => resolve("refused");
      });
    // Bun dials the hostname: map it as Chromium does
    const evil = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("<!doctype html><title>elsewhere</title>", { headers: { "content-type": "text/html" } }) });
    try {
      expect(await socket("https://evil.example")).toBe("refused");
      const other = await page.context().newPage();
      await other.goto(`http://127.0.0.1:${evil.port}/`);
      const fromThere = await other.evaluate(
        ([url]) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(url!);
            ws.onopen = () => resolve("open");
            ws.onerror = () => resolve("refused");
          }),
        [`wss://${APP}:${edge.port}/.wicket/terminal?token=${token}`],
      );
      expect(fromThere).toBe("refused");
    } finally {
      evil.stop(true);
    }
    await page.close();
  });
});

describe("the server's host key", () => {
  let a: Sshd;
  let b: Sshd;
  let tunnel: Proc;

  beforeAll(async () => {
    const ca = await terminalApp(edge, HK, [ALICE]);
    [a, b] = await Promise.all([startSshd({ trustedUserCAKeys: ca, authorizeClientKey: false }), startSshd({ trustedUserCAKeys: ca, authorizeClientKey: false })]);
  });

  afterAll(async () => {
    await tunnel?.stop();
    await a?.[Symbol.asyncDispose]();
    await b?.[Symbol.asyncDispose]();
  }, 20_000);

  /** The host key's fingerprint as ssh-keygen prints it. */
  const fingerprintOf = async (s: Sshd) => expectExit(await run(["ssh-keygen", "-lf", join(s.dir, "ssh_host_ed25519_key.pub")])).stdout.split(" ")[1]!;

  test("is pinned on first use and shown in `app list`; a changed key is refused with a clear message until an admin accepts it", async () => {
    tunnel = await edge.tunnel(HK, `ssh://127.0.0.1:${a.port}`);
    let page = await open(ALICE, HK);
    await connected(page);
    const fp = await fingerprintOf(a);
    const row = () => edge.admin(["app", "list"]).then((t) => t.split("\n").find((l) => l.startsWith(HK)) ?? "");
    expect(await row()).toContain(fp);
    await page.close();

    await tunnel.stop();
    tunnel = await edge.tunnel(HK, `ssh://127.0.0.1:${b.port}`);
    const before = sshdLog(b).filter((l) => /Accepted/.test(l)).length;
    page = await open(ALICE, HK);
    const why = await closedWhy(page);
    expect(why).toContain(`The host key of ${HK} has changed`);
    expect(why).toContain(fp);
    expect(why).toContain(`wicket edge app edit ${HK} --accept-host-key`);
    expect(sshdLog(b).filter((l) => /Accepted/.test(l)).length).toBe(before); // no login on the unknown server
    await page.screenshot({ path: join(shots, "host-key-changed.png") });
    const fpB = await fingerprintOf(b);
    expect(await row()).toContain(`refused ${fpB}`);

    await edge.admin(["app", "edit", HK, "--accept-host-key"]);
    expect(await row()).toContain(fpB);
    await page.getByRole("button", { name: "Reconnect" }).click();
    await connected(page);
    expect(await runIn(page, "id -un", /^\w+$/)).toBe("alice");
    await page.close();
  });
});

describe("a terminal without input", () => {
  let idleDir: TempDir;
  let idle: TestEdge;
  let idleSshd: Sshd;

  beforeAll(async () => {
    idleDir = await tempDir("wicket-browser-ssh-idle-");
    const config = idleDir.join("edge.yaml");
    writeFileSync(config, `dev: true\nidentity-providers:\n  - { name: email, type: otp }\n`);
    idle = await startEdge({ dir: idleDir, extra: ["--config", config, "--terminal-idle-timeout", "2s"] });
    await idle.admin(["zone", "add", IDLE_ZONE]);
    idleSshd = await startSshd({ trustedUserCAKeys: await terminalApp(idle, IDLE_APP, [DAVE]), authorizeClientKey: false });
    await idle.tunnel(IDLE_APP, `ssh://127.0.0.1:${idleSshd.port}`);
  }, 60_000);

  afterAll(async () => {
    await idle?.[Symbol.asyncDispose]();
    await idleSshd?.[Symbol.asyncDispose]();
    await idleDir?.[Symbol.asyncDispose]();
  });

  test("is closed after the idle timeout: the page says so with Reconnect, the SSH session ends, and the audit says idle", async () => {
    const page = await open(DAVE, IDLE_APP, idle);
    await connected(page);
    const t0 = Date.now();
    expect(await closedWhy(page, 10_000)).toBe("The terminal was closed after 2 seconds without input.");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await page.getByRole("button", { name: "Reconnect" }).isVisible()).toBe(true);
    await idleSshd.proc.waitForLine(/Disconnected from user alice|Received disconnect from/, { stream: "stderr", timeoutMs: 10_000 });
    let end: { reason?: string } | undefined;
    for (let i = 0; i < 20 && !end; i++) {
      const audit = (await idle.admin(["audit", "--json", "--host", IDLE_APP])).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
      end = audit.find((r: { kind: string }) => r.kind === "session-end"); // written as the session ends
    }
    expect(end).toMatchObject({ identity: DAVE, reason: "idle for 2s" });
    await page.close();
  });

  test("typing winds the clock back; output from the server does not", async () => {
    const page = await open(DAVE, IDLE_APP, idle);
    await connected(page);
    await page.locator("#terminal").click();
    // a keystroke every second for three seconds, longer than the timeout: still open
    for (let i = 0; i < 3; i++) {
      await page.keyboard.type(`#${i}`);
      await page.waitForTimeout(1000); // the gap between keystrokes is what is under test
    }
    expect(await page.locator("body").getAttribute("data-state")).toBe("connected");
    expect(await page.locator("#closed").isHidden()).toBe(true);
    // then a command that prints without end, and no more input: closed all the same
    await page.keyboard.type("\nn=0; while :; do n=$((n+1)); echo tick-$n; sleep 0.2; done\n");
    const typed = Date.now();
    expect(await closedWhy(page, 10_000)).toBe("The terminal was closed after 2 seconds without input.");
    expect(Date.now() - typed).toBeGreaterThan(1500);
    const shown = await screen(page);
    expect(shown.filter((l) => /^tick-\d+$/.test(l)).length, shown.filter(Boolean).join("\n")).toBeGreaterThan(3);
    await page.close();
  });
});

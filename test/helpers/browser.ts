// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core, and the "browser
// opener" the wicket CLI starts (WICKET_BROWSER): a small script that hands the URL to the
// test, which then opens it in Chromium, as a person's browser would.
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from "playwright-core";
import { chmod, writeFile } from "node:fs/promises";
import type { TempDir } from "./tmp.ts";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** `args`: more Chromium switches, e.g. --host-resolver-rules to reach application hostnames. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  // launch() gives the browser a fresh, temporary --user-data-dir of its own.
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    chromiumSandbox: false, // --no-sandbox: tests run as root in CI
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...args],
  });
}

/**
 * One browser profile per person, kept across tests: its cookies are that person's sign-in.
 * `browser` is asked for at the first call (tests launch it in beforeAll); the profiles trust
 * any certificate (ignoreHTTPSErrors), as the edge's own CA is not Chromium's.
 */
export function profiles(browser: () => Browser, options: BrowserContextOptions = {}): (who: string) => Promise<BrowserContext> {
  const contexts = new Map<string, Promise<BrowserContext>>();
  return (who) => {
    let c = contexts.get(who);
    if (!c) contexts.set(who, (c = browser().newContext({ ignoreHTTPSErrors: true, ...options })));
    return c;
  };
}

export interface Opener extends AsyncDisposable {
  /** WICKET_BROWSER for the CLI: runs the script with the URL as its argument. */
  command: string;
  /** The next URL the CLI asked to open. */
  nextUrl(timeoutMs?: number): Promise<string>;
  /** URLs asked for that nobody has taken yet. */
  pending(): string[];
  /** How many URLs were asked for in all. */
  count(): number;
  stop(): Promise<void>;
}

export async function startOpener(dir: TempDir): Promise<Opener> {
  const queue: string[] = [];
  const waiting: ((u: string) => void)[] = [];
  let total = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = await req.text();
      total++;
      const w = waiting.shift();
      if (w) w(url);
      else queue.push(url);
      return new Response("ok\n");
    },
  });
  const script = dir.join("open-browser.sh");
  await writeFile(script, `#!/bin/sh\nexec curl -fsS -o /dev/null --data-binary "$1" http://127.0.0.1:${server.port}/\n`);
  await chmod(script, 0o755);
  const stop = async () => void server.stop(true);
  return {
    command: script,
    nextUrl(timeoutMs = 30_000) {
      const u = queue.shift();
      if (u) return Promise.resolve(u);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the CLI opened no browser within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((url) => {
          clearTimeout(t);
          resolve(url);
        });
      });
    },
    pending: () => [...queue],
    count: () => total,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

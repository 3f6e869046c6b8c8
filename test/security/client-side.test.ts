// Attacks on the client, by an edge the user was pointed at (a pasted --edge, a WICKET_EDGE
// someone set) or by a hostname the user was handed: each failed before its fix. The fake
// edges here are plain Bun servers on 127.0.0.1 that answer as a malicious edge would; the
// client is the compiled binary.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { openerCommand } from "../../lib/access/browser.ts";
import { EXIT } from "../../lib/cli/exit.ts";
import { issueCert, newCA } from "../../lib/tls/ca.ts";
import { render } from "../../lib/doctor/hop.ts";
import { METADATA_PATH } from "../../lib/wire/http.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { wicket } from "../helpers/wicket.ts";

let dir: TempDir;
beforeAll(async () => {
  dir = await tempDir("wicket-client-side-");
});
afterAll(async () => {
  await dir?.[Symbol.asyncDispose]();
});

/** An edge that answers its metadata with `meta` (its own URL filled in for "SELF") and the
 * device endpoint with `device`; it records every request's path and Authorization header. */
function evilEdge(meta: (self: string) => object, device: (self: string) => object = () => ({})) {
  const seen: { path: string; authorization: string | null }[] = [];
  const server: ReturnType<typeof Bun.serve> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req): Promise<Response> {
      const url = new URL(req.url);
      seen.push({ path: url.pathname, authorization: req.headers.get("authorization") });
      const self: string = `http://127.0.0.1:${server.port}`;
      if (url.pathname === METADATA_PATH) return Response.json(meta(self));
      if (url.pathname === "/oauth/device") return Response.json(device(self));
      if (url.pathname === "/oauth/token") return Response.json({ error: "access_denied", error_description: "this edge approves nothing" }, { status: 400 });
      return new Response("no\n", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, [Symbol.dispose]: () => server.stop(true) };
}

/** The system's opener as the CLI finds it, `xdg-open` first on PATH, played by a script that
 * hands its whole argv to the test (a stand-in: no desktop runs here). */
function standInOpener() {
  const waiting: ((argv: string[]) => void)[] = [];
  const calls: string[][] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const argv = (await req.text()).split("\0").slice(0, -1);
      const w = waiting.shift();
      if (w) w(argv);
      else calls.push(argv);
      return new Response("ok\n");
    },
  });
  const bin = dir.join(`bin-${crypto.randomUUID()}`);
  mkdirSync(bin);
  writeFileSync(`${bin}/xdg-open`, `#!/bin/sh\nprintf '%s\\0' "$@" | exec curl -fsS -o /dev/null --data-binary @- http://127.0.0.1:${server.port}/\n`, { mode: 0o755 });
  return {
    PATH: `${bin}:${process.env.PATH}`,
    /** The argv of the next start of the opener. */
    next: (timeoutMs = 20_000) =>
      calls.length > 0
        ? Promise.resolve(calls.shift()!)
        : new Promise<string[]>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no opener was started within ${timeoutMs} ms`)), timeoutMs);
            waiting.push((argv) => (clearTimeout(t), resolve(argv)));
          }),
    [Symbol.dispose]: () => server.stop(true),
  };
}

const home = () => {
  const h = dir.join(`home-${crypto.randomUUID()}`);
  mkdirSync(h, { mode: 0o700 });
  return { WICKET_HOME: h, WICKET_BROWSER: "/bin/false" };
};

describe("an edge the user was pointed at", () => {
  test("that names another edge as its issuer gets no token: the sign-in stops at its metadata", async () => {
    const real = "https://edge.corp.test";
    using evil = evilEdge(() => ({ issuer: real, token_endpoint: `${real}/oauth/token`, device_authorization_endpoint: `${real}/oauth/device` }));
    const r = await wicket(["access", "token", "ssh.corp.test", "--edge", evil.url], { env: home() });
    expect(r.code).toBe(EXIT.unreachable);
    expect(r.stderr).toContain("names https://edge.corp.test as its issuer, not itself");
    expect(evil.seen.map((s) => s.path)).toEqual([METADATA_PATH]);
  });

  test("cannot put escape sequences on the terminal or send the browser elsewhere through its sign-in answer", async () => {
    const meta = (self: string) => ({ issuer: self, token_endpoint: `${self}/oauth/token`, device_authorization_endpoint: `${self}/oauth/device` });
    for (const device of [
      (self: string) => ({ device_code: "d", user_code: "ABCD-EFGH\u001b]0;pwned\u0007\u001b[2J", verification_uri: `${self}/device`, expires_in: 60, interval: 1 }),
      () => ({ device_code: "d", user_code: "ABCD-EFGH", verification_uri: "file:///etc/passwd", expires_in: 60, interval: 1 }),
      () => ({ device_code: "d", user_code: "ABCD-EFGH", verification_uri: "https://phish.example/device", expires_in: 60, interval: 1 }),
    ]) {
      using evil = evilEdge(meta, device);
      const r = await wicket(["access", "login", "ssh.corp.test", "--edge", evil.url, "--no-browser"], { env: home() });
      expect(r.code).toBe(EXIT.unreachable);
      expect(r.stderr).toContain("the edge's sign-in answer is not its own");
      expect(r.stderr).not.toContain("\u001b");
      expect(r.stderr).not.toContain("phish.example");
    }
  });

  test("cannot choose the page that is printed and opened: the client builds it from the issuer and a plain code", async () => {
    const meta = (self: string) => ({ issuer: self, token_endpoint: `${self}/oauth/token`, device_authorization_endpoint: `${self}/oauth/device` });
    const escapes = "\u001b]0;pwned\u0007\u001b]52;c;cm0gLXJmIH4K\u0007\u001b[2K\r$ ";
    const answers: [string, (self: string) => object][] = [
      // cmd /c start ran what follows a "|" (only "&" was escaped); on Linux it reached xdg-open as it came
      ["a pipe to a command", (self) => ({ verification_uri: `${self}/device`, verification_uri_complete: `${self}/device?user_code=BCDF-GHJK|calc.exe` })],
      ["a second command", (self) => ({ verification_uri: `${self}/device`, verification_uri_complete: `${self}/device?user_code=BCDF-GHJK&calc.exe&` })],
      // a window title, the clipboard (OSC 52) and a fake prompt
      ["terminal escapes", (self) => ({ verification_uri: `${self}/device`, verification_uri_complete: `${self}/device?user_code=BCDF-GHJK${escapes}` })],
    ];
    for (const [what, page] of answers) {
      using evil = evilEdge(meta, (self) => ({ device_code: "d", user_code: "BCDF-GHJK", expires_in: 60, interval: 1, ...page(self) }));
      using opener = standInOpener();
      const r = await wicket(["access", "login", "ssh.corp.test", "--edge", evil.url], { env: { ...home(), WICKET_BROWSER: undefined, PATH: opener.PATH } });
      const own = `${evil.url}/device?user_code=BCDF-GHJK`;
      expect({ what, code: r.code }).toEqual({ what, code: EXIT.denied }); // this edge approves nothing
      expect({ what, printed: r.stderr.split("\n").filter((l) => l.includes("/device")) }).toEqual({ what, printed: [`  ${own}`] });
      expect({ what, opened: await opener.next() }).toEqual({ what, opened: [own] });
      expect(r.stderr).not.toMatch(/[\u001b\u0007]|calc/);
    }
    // without the complete URI (a zone credential's sign-in) the page has no code, and the person types it
    using evil = evilEdge(meta, (self) => ({ device_code: "d", user_code: "BCDF-GHJK", verification_uri: `${self}/device${escapes}`, expires_in: 60, interval: 1 }));
    const r = await wicket(["access", "login", "ssh.corp.test", "--edge", evil.url, "--no-browser"], { env: home() });
    expect(r.code).toBe(EXIT.denied);
    expect(r.stderr).toContain(`type the code BCDF-GHJK:\n  ${evil.url}/device\n`);
    expect(r.stderr).not.toMatch(/[\u001b\u0007]/);
  });

  test("cannot have a code shown that is not one as the edge issues them", async () => {
    const meta = (self: string) => ({ issuer: self, token_endpoint: `${self}/oauth/token`, device_authorization_endpoint: `${self}/oauth/device` });
    for (const code of ["BCDF-GHJK|calc.exe", "bcdf-ghjk", "ABCD-EFGH", "BCDF-GHJK-LMNP", "BCDFGHJK"]) {
      using evil = evilEdge(meta, (self) => ({ device_code: "d", user_code: code, verification_uri: `${self}/device`, expires_in: 60, interval: 1 }));
      const r = await wicket(["access", "login", "ssh.corp.test", "--edge", evil.url, "--no-browser"], { env: home() });
      expect({ code, exit: r.code }).toEqual({ code, exit: EXIT.unreachable });
      expect(r.stderr).toContain("the edge's sign-in answer is not its own");
      expect(r.stderr).not.toContain(code);
    }
  });

  test("over https cannot name an issuer whose host is no name: the page would be built at it", async () => {
    // over https the issuer may be another host than the one asked (lib/access/oauth.ts): a
    // URL's host may still hold "&", "'", "(", ";" and more, which have no place in a page URL
    const ca = await newCA();
    const { cert, key } = await issueCert(ca, ["127.0.0.1"]);
    const caFile = dir.join(`ca-${crypto.randomUUID()}.pem`);
    writeFileSync(caFile, ca.certPem);
    const seen: string[] = [];
    for (const issuer of ["https://a&calc.exe", "https://x'$(id)'.test", "https://a;b.test"]) {
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        tls: { cert, key },
        fetch: (req) => (seen.push(new URL(req.url).pathname), Response.json({ issuer, token_endpoint: `${issuer}/oauth/token`, device_authorization_endpoint: `${issuer}/oauth/device` })),
      });
      try {
        const r = await wicket(["access", "login", "ssh.corp.test", "--edge", `https://127.0.0.1:${server.port}`, "--ca-file", caFile, "--no-browser"], { env: home() });
        expect({ issuer, code: r.code }).toEqual({ issuer, code: EXIT.unreachable });
        expect(r.stderr).toContain(`names ${issuer} as its issuer, not itself; refusing to sign in through it`);
      } finally {
        server.stop(true);
      }
    }
    expect(seen.every((p) => p === METADATA_PATH)).toBe(true);
  });

  test("on Windows has its page opened without a shell: the URL is one argument to url.dll, cmd never runs", () => {
    const url = "https://edge.corp.test/device?user_code=BCDF-GHJK";
    expect(openerCommand(url, "win32", {})).toEqual(["rundll32", "url.dll,FileProtocolHandler", url]);
    expect(openerCommand(url, "linux", {})).toEqual(["xdg-open", url]);
    expect(openerCommand(url, "win32", { WICKET_BROWSER: "firefox --new-tab" })).toEqual(["firefox", "--new-tab", url]);
  });

  test("over plain http is refused unless it is this machine", async () => {
    const r = await wicket(["access", "token", "ssh.corp.test", "--edge", "http://edge.corp.test"], { env: home() });
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("is plain http: credentials go to it, so it must be https");
  });

  test("has what it says shown as text by doctor, never as terminal control", () => {
    const out = render([{ hop: "edge", ok: true, skipped: false, ms: 1, detail: "wicket 9.9\u001b]0;pwned\u0007\u009b2J" }], true);
    expect(out).not.toMatch(/[\u001b\u0007\u009b]/);
    expect(out).toContain("wicket 9.9\\x1b]0;pwned\\x07\\x9b2J");
  });
});

describe("a hostname the user was handed", () => {
  test("with a line break or shell characters is refused before it reaches a file, a header or ssh_config", async () => {
    const injected = "ssh.corp.test\n\tPermitLocalCommand yes\n\tLocalCommand touch /tmp/pwn\nHost x";
    const config = await wicket(["access", "ssh-config", "--hostname", injected], { env: home() });
    expect(config.code).toBe(EXIT.usage);
    expect(config.stdout).toBe("");
    expect(config.stderr).toContain("is not a hostname or an ssh_config host pattern");
    for (const bad of [injected, "x$(touch /tmp/pwn).corp.test", "../../etc/passwd", "a b.corp.test"]) {
      const r = await wicket(["access", "ssh", "--hostname", bad], { env: home() });
      expect(r.code).toBe(EXIT.usage);
      expect(r.stderr).toContain("is not a hostname");
    }
    // a pattern is still a pattern in ssh_config
    const pattern = await wicket(["access", "ssh-config", "--hostname", "*.corp.test"], { env: home() });
    expect(pattern.code).toBe(0);
    expect(pattern.stdout).toStartWith("Host *.corp.test\n");
  });
});

test("a ~/.wicket another user can read is made private when wicket writes to it", async () => {
  const h = dir.join("loose-home");
  mkdirSync(h, { mode: 0o755 });
  const r = await wicket(["access", "ssh-gen", "--hostname", "ssh.corp.test", "--edge", "https://127.0.0.1:1", "--id", "x", "--secret", "y"], { env: { WICKET_HOME: h } });
  expect(r.code).not.toBe(0); // no edge there: the key is made first, the certificate fails
  expect(statSync(h).mode & 0o777).toBe(0o700);
});

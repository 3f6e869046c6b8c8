// Attacks on the client, by an edge the user was pointed at (a pasted --edge, a WICKET_EDGE
// someone set) or by a hostname the user was handed: each failed before its fix. The fake
// edges here are plain Bun servers on 127.0.0.1 that answer as a malicious edge would; the
// client is the compiled binary.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, statSync } from "node:fs";
import { EXIT } from "../../lib/cli/exit.ts";
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
      return new Response("no\n", { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, [Symbol.dispose]: () => server.stop(true) };
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

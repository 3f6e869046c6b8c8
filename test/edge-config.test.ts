// The edge's YAML config file: what it may say, how flags override it, and how a mistake is
// reported (file, key, reason; exit 78) before the edge starts.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { checkEdgeConfig, identitySettings, loadEdgeConfig } from "../lib/edge/config/file.ts";
import { WicketError } from "../lib/cli/exit.ts";
import { spawnProc } from "./helpers/proc.ts";
import { tempDir } from "./helpers/tmp.ts";
import { wicket, WICKET } from "./helpers/wicket.ts";

function problem(value: unknown): string {
  try {
    checkEdgeConfig(value, "edge.yaml");
  } catch (e) {
    if (e instanceof WicketError && e.exitCode === 78) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

describe("checking the config", () => {
  test("a full config is read into settings, durations and all", () => {
    const c = checkEdgeConfig(
      {
        listen: "0.0.0.0:443",
        "public-url": "https://edge.example.com/",
        "session-length": "12h",
        "app-session-length": "30m",
        smtp: { host: "smtp.example.com", port: 2525, user: "u", password: "p", from: "wicket <w@example.com>" },
        "identity-providers": [
          { name: "email", type: "otp" },
          { name: "okta", type: "oidc", issuer: "https://example.okta.com", "client-id": "abc", "client-secret": "s", "groups-claim": "roles" },
        ],
      },
      "edge.yaml",
    );
    expect(c["public-url"]).toBe("https://edge.example.com");
    const s = identitySettings(c);
    expect([s.sessionMs, s.appSessionMs, s.pollIntervalMs]).toEqual([12 * 3_600_000, 30 * 60_000, 5_000]);
    expect(s.smtp).toEqual({ host: "smtp.example.com", port: 2525, secure: false, user: "u", password: "p", from: "wicket <w@example.com>" });
    expect(s.providers[1]).toMatchObject({ type: "oidc", name: "okta", clientId: "abc", groupsClaim: "roles", scopes: ["openid", "email", "profile"] });
  });

  test("with no providers, sign-in is by e-mail PIN", () => {
    expect(identitySettings({}).providers).toEqual([{ type: "otp", name: "email", displayName: "E-mail (one-time PIN)" }]);
  });

  test("each mistake names the key and the reason", () => {
    expect(problem({ lisen: "x" })).toStartWith(`edge.yaml: "lisen" is not a known key; known keys here are listen,`);
    expect(problem({ smtp: { host: "h", from: "f", port: "25x" } })).toBe(`edge.yaml: "smtp.port" must be a port number from 1 to 65535, not "25x"`);
    expect(problem({ smtp: { host: "h" } })).toBe(`edge.yaml: "smtp.from" is required`);
    expect(problem({ "session-length": "forever" })).toContain(`"session-length" must be a duration such as 30s`);
    expect(problem({ "identity-providers": [{ name: "a", type: "otp" }, { name: "b", type: "oidc", issuer: "not a url", "client-id": "c" }] })).toContain(`"identity-providers[1].issuer" must be a URL`);
    expect(problem({ "identity-providers": [{ name: "a", type: "saml" }] })).toContain(`"identity-providers[0].type" must be one of otp, oidc, not "saml"`);
    expect(problem({ "identity-providers": [{ name: "a", type: "otp" }, { name: "a", type: "otp" }] })).toContain(`"identity-providers[1].name" "a" is used by two providers`);
    expect(problem({ "identity-providers": [{ name: "x", type: "oidc", issuer: "https://i", "client-id": "c", scopes: ["email"] }] })).toContain(`"identity-providers[0].scopes" must include "openid"`);
    expect(problem({ tls: "maybe" })).toContain(`"tls" must be one of self-signed, off`);
    expect(problem(["a list"])).toContain("must be a mapping");
  });

  test("a YAML syntax error names the file, line and column", async () => {
    await using dir = await tempDir();
    const file = dir.join("edge.yaml");
    writeFileSync(file, "listen: 127.0.0.1:0\nsmtp: [a,\n  b: c\n");
    expect(() => loadEdgeConfig(file)).toThrow(new RegExp(`^${file.replaceAll("/", "\\/")}:\\d+:\\d+: `));
  });
});

describe("wicket edge serve --config", () => {
  test("a bad key stops the edge at once with exit 78, naming file and key", async () => {
    await using dir = await tempDir();
    const file = dir.join("edge.yaml");
    writeFileSync(file, `data-dir: ${dir.join("d")}\nidentity-providers:\n  - name: okta\n    type: oidc\n    isuser: https://x\n`);
    const r = await wicket(["edge", "serve", "--config", file, "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(78);
    expect(r.stderr.trim()).toBe(`error: ${file}: "identity-providers[0].isuser" is not a known key; known keys here are type, name, display-name, issuer, client-id, client-secret, scopes, groups-claim, ca-file, trust-email`);
  });

  test("flags override the file; the file fills in what flags do not say", async () => {
    await using dir = await tempDir();
    const file = dir.join("edge.yaml");
    // The file's listen address is unusable: the edge only starts if --listen wins.
    writeFileSync(file, `listen: "not an address"\npublic-url: https://edge.example.test:9443\ndata-dir: ${dir.join("d")}\n`);
    await using edge = spawnProc([WICKET, "edge", "serve", "--config", file, "--listen", "127.0.0.1:0"], { name: "edge" });
    const [, publicUrl] = await edge.waitForLine(/edge listening on \S+ \(public URL (\S+)\)/, { stream: "stderr" });
    expect(publicUrl).toBe("https://edge.example.test:9443");
  });
});

// Workload identity's settings on both ends: `workload-issuers:` in edge.yaml (what it may say
// and how a mistake is reported), and where the client finds a job's ID token, and what it
// does when the platform gives none. The Actions endpoint is the test stand-in.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { checkEdgeConfig, identitySettings } from "../lib/edge/config/file.ts";
import { WicketError } from "../lib/cli/exit.ts";
import { idTokenSource, workloadAppToken } from "../lib/access/workload.ts";
import { tempDir } from "./helpers/tmp.ts";
// (an ID token from GitHub Actions is exchanged afresh each time: nothing is written under WICKET_HOME)

function problem(value: unknown): string {
  try {
    checkEdgeConfig(value, "edge.yaml");
  } catch (e) {
    if (e instanceof WicketError && e.exitCode === 78) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

describe("workload-issuers in edge.yaml", () => {
  test("a name and an issuer; audience, ca-file and max-stale optional; none by default", async () => {
    await using dir = await tempDir();
    const ca = dir.join("ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const c = checkEdgeConfig(
      {
        "workload-issuers": [
          { name: "github", issuer: "https://token.actions.githubusercontent.com" },
          { name: "k8s", issuer: "https://kubernetes.default.svc", audience: "wicket", "ca-file": ca, "max-stale": "15m" },
          { name: "dev", issuer: "http://127.0.0.1:5556" },
        ],
      },
      "edge.yaml",
    );
    expect(identitySettings(c).workloadIssuers).toEqual([
      { name: "github", issuer: "https://token.actions.githubusercontent.com" },
      { name: "k8s", issuer: "https://kubernetes.default.svc", audience: "wicket", caPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", maxStaleMs: 15 * 60_000 },
      { name: "dev", issuer: "http://127.0.0.1:5556" },
    ]);
    expect(identitySettings({}).workloadIssuers).toEqual([]);
  });

  test.each([
    [{ "workload-issuers": [] }, `"workload-issuers" must be a list of issuers`],
    [{ "workload-issuers": [{ name: "github" }] }, `"workload-issuers[0].issuer" is required`],
    [{ "workload-issuers": [{ name: "GitHub!", issuer: "https://x.test" }] }, `"workload-issuers[0].name" must be a short name`],
    [{ "workload-issuers": [{ name: "x", issuer: "http://issuer.example.com" }] }, `"workload-issuers[0].issuer" must be the issuer's https URL`],
    [{ "workload-issuers": [{ name: "x", issuer: "https://a.test", scopes: ["openid"] }] }, `"workload-issuers[0].scopes" is not a known key`],
    [{ "workload-issuers": [{ name: "x", issuer: "https://a.test" }, { name: "x", issuer: "https://b.test" }] }, `"workload-issuers[1].name" "x" is used by two issuers`],
    [{ "workload-issuers": [{ name: "x", issuer: "https://a.test" }, { name: "y", issuer: "https://a.test" }] }, `"workload-issuers[1].issuer" https://a.test is listed twice`],
  ])("%j is refused: %s", (value, message) => {
    expect(problem(value)).toContain(message);
  });
});

describe("where the client finds a job's ID token", () => {
  const actions = { ACTIONS_ID_TOKEN_REQUEST_URL: "https://runner.test/token", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "r" };

  test("--oidc-token-file first, then WICKET_OIDC_TOKEN, then GitHub Actions' variables; none outside a job", () => {
    expect(idTokenSource({ "oidc-token-file": "/run/token" }, { WICKET_OIDC_TOKEN: "t", ...actions })).toEqual({ kind: "file", path: "/run/token" });
    expect(idTokenSource({}, { WICKET_OIDC_TOKEN: " t \n", ...actions })).toEqual({ kind: "env", token: "t" });
    expect(idTokenSource({}, actions)).toEqual({ kind: "actions", url: actions.ACTIONS_ID_TOKEN_REQUEST_URL, requestToken: "r" });
    // a job without `permissions: id-token: write` has the URL and no request token
    expect(idTokenSource({}, { ACTIONS_ID_TOKEN_REQUEST_URL: actions.ACTIONS_ID_TOKEN_REQUEST_URL })).toBeUndefined();
    expect(idTokenSource({}, {})).toBeUndefined();
  });

  test("the Actions request token goes only to https or to this machine", async () => {
    // an edge that answers discovery, so that only the Actions URL is in question
    await using edge = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        const base = new URL(req.url).origin;
        return Response.json({ issuer: base, token_endpoint: `${base}/oauth/token`, device_authorization_endpoint: `${base}/oauth/device` });
      },
    });
    const source = { kind: "actions" as const, url: "http://runner.example.com/token", requestToken: "secret-request-token" };
    const err = await workloadAppToken({ hostname: "ssh.site.test", edge: `http://127.0.0.1:${edge.port}`, source }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WicketError);
    expect((err as WicketError).exitCode).toBe(78);
    expect((err as WicketError).message).toContain("ACTIONS_ID_TOKEN_REQUEST_URL is not an https URL");
  });

  test("an Actions endpoint that refuses the request token says what the job lacks, exit 77", async () => {
    await using server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        const u = new URL(req.url);
        if (u.pathname === "/token") return new Response("forbidden", { status: 403 });
        return Response.json({ issuer: u.origin, token_endpoint: `${u.origin}/oauth/token`, device_authorization_endpoint: `${u.origin}/oauth/device` });
      },
    });
    const base = `http://127.0.0.1:${server.port}`;
    const err = await workloadAppToken({ hostname: "ssh.site.test", edge: base, source: { kind: "actions", url: `${base}/token`, requestToken: "r" } }).catch((e: unknown) => e);
    expect((err as WicketError).exitCode).toBe(77);
    expect((err as WicketError).message).toContain("permissions: id-token: write");
  });
});

// A client of the sign-in endpoints as a browser is one, for attack tests: its own address
// (X-Forwarded-For, believed from 127.0.0.1 by the edges `pinEdge` starts) and the CSRF and
// session cookies its browser would hold. That is how one attacker looks like thousands of
// clients, and how tests keep out of each other's per-address shares. Also the PIN an edge
// with --dev logs, and the device flow as the CLI runs it (start a sign-in, poll for its token).
import { expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { PIN_PATTERN } from "../../lib/store/sign-in-starts.ts";
import type { TempDir } from "./tmp.ts";
import { startEdge, type TestEdge } from "./wicket.ts";

/** An edge that logs PINs (--dev, no SMTP) and believes X-Forwarded-For from 127.0.0.1. */
export async function pinEdge(d: TempDir, name: string): Promise<TestEdge> {
  const config = d.join(`${name}.yaml`);
  writeFileSync(config, "dev: true\ntrusted-proxies: 127.0.0.1\n");
  return startEdge({ dir: d, extra: ["--config", config, "--metrics", "127.0.0.1:0"] });
}

export type Answer = { status: number; headers: Headers; text: string };

/** One client of an edge: its address, and the CSRF cookie its browser would hold. */
export async function client(e: TestEdge, ip: string) {
  const caPem = readFileSync(e.caFile, "utf8");
  const send = async (path: string, init: RequestInit & { cookie?: string } = {}): Promise<Answer> => {
    const headers = new Headers(init.headers);
    headers.set("x-forwarded-for", ip);
    if (init.cookie) headers.set("cookie", init.cookie);
    const res = await fetch(`${e.url}${path}`, { ...init, headers, redirect: "manual", tls: { ca: caPem } } as RequestInit);
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const page = await send("/sign-in");
  const csrf = /__Host-wicket-csrf=([^;]+)/.exec(page.headers.get("set-cookie") ?? "")![1]!;
  let cookie = `__Host-wicket-csrf=${csrf}`;
  const form = (path: string, fields: Record<string, string>) =>
    send(path, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf, return: "/", ...fields }), cookie });
  return {
    ip,
    get: (path: string) => send(path, { cookie }),
    askPin: (email: string) => form("/sign-in/email", { email }),
    async guess(pinId: string, pin: string) {
      const a = await form("/sign-in/pin", { pin_id: pinId, pin });
      const session = /__Host-wicket-session=([^;]+)/.exec(a.headers.get("set-cookie") ?? "");
      if (session) cookie += `; __Host-wicket-session=${session[1]}`;
      return a;
    },
    send: (path: string, fields: Record<string, string>) => form(path, fields),
    startDevice: (fields: Record<string, string>) => form("/oauth/device", { client_id: "wicket", ...fields }),
    startOidc: (name: string) => form(`/sign-in/oidc/${name}`, {}),
  };
}

export const pinIdIn = (html: string) => /name="pin_id" value="([^"]+)"/.exec(html)?.[1];
export const pinFromLog = async (e: TestEdge, email: string) =>
  (await e.proc.waitForLine(new RegExp(`the PIN for ${email.replace(/\./g, "\\.")} is (${PIN_PATTERN})`), { stream: "stderr" }))[1]!;
/** A zone and an application whose policy names the mailboxes of `domains`: the people a PIN is mailed to. */
export async function people(e: TestEdge, ...domains: string[]) {
  await e.admin(["zone", "add", "site.test"]);
  await e.admin(["app", "add", "ssh.site.test"]);
  await e.admin(["policy", "add", "ssh.site.test", "--name", "people", "--action", "allow", ...domains.flatMap((d) => ["--include", `domain:${d}`])]);
}

export type DeviceCode = { device_code: string; user_code: string; verification_uri: string; verification_uri_complete?: string };

const formPost = (e: TestEdge, path: string, fields: Record<string, string>, from?: string) =>
  fetch(`${e.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(from ? { "x-forwarded-for": from } : {}) },
    body: new URLSearchParams(fields),
    redirect: "manual",
    tls: { ca: readFileSync(e.caFile, "utf8") },
  } as RequestInit);

/** A device sign-in (`wicket tunnel login`, an app sign-in) started as the CLI starts it, from `from` (X-Forwarded-For); the edge must answer 200. */
export async function startDevice(e: TestEdge, from: string, fields: Record<string, string>): Promise<DeviceCode> {
  const res = await formPost(e, "/oauth/device", { client_id: "wicket", ...fields }, from);
  expect(res.status).toBe(200);
  return (await res.json()) as DeviceCode;
}

/** One poll of the token endpoint for `d`, as the CLI polls: the JSON it answers. */
export async function pollDevice(e: TestEdge, d: DeviceCode): Promise<Record<string, unknown>> {
  const res = await formPost(e, "/oauth/token", { grant_type: "urn:ietf:params:oauth:grant-type:device_code", client_id: "wicket", device_code: d.device_code });
  return (await res.json()) as Record<string, unknown>;
}

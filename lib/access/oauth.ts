// The client side of the edge's OAuth endpoints: find them (RFC 8414 metadata), run the
// Device Authorization Grant (RFC 8628) and use a refresh token to mint an app token for a
// resource (RFC 8707). Every failure becomes one sentence and an exit code.
import { isIP } from "node:net";
import type { FetchOptions, FetchResponse } from "ofetch";
import { isLoopbackHost, unbracket } from "../net/address.ts";
import { isDnsName } from "../net/dns-name.ts";
import { sleep } from "../async.ts";
import { configError, deniedError, temporaryError, unreachableError } from "../cli/exit.ts";
import { httpClient, requestError } from "../cli/http.ts";
import { log, oneLine } from "../cli/log.ts";
import { CLIENT_ID, DEVICE_GRANT, ID_TOKEN_TYPE, METADATA_PATH, TOKEN_EXCHANGE_GRANT } from "../wire/http.ts";
import { isUserCode, verificationUrl } from "../wire/user-code.ts";
import { openBrowser } from "./browser.ts";

export type ServerMetadata = { issuer: string; device_authorization_endpoint: string; token_endpoint: string; revocation_endpoint?: string };

export type TokenResponse = {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  email?: string;
  zone?: string;
};

type OAuthErrorBody = { error?: string; error_description?: string };

/** What a browser sign-in prints and opens. */
export type BrowserMode = "open" | "print";

/** One request; an HTTP error status is an answer here, not a failure: OAuth errors come as 400 with a body. */
async function request(url: string, ca: string | undefined, options: FetchOptions<"json"> = {}): Promise<FetchResponse<unknown>> {
  const peer = { where: new URL(url).host, ca };
  try {
    return await httpClient(peer).raw(url, { ...options, responseType: "json", ignoreResponseError: true });
  } catch (e) {
    throw requestError(e, peer);
  }
}

const form = (fields: Record<string, string>): FetchOptions<"json"> => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
  body: new URLSearchParams(fields).toString(),
});

/** The JSON object the edge answered with, if it did. */
const jsonObject = (res: FetchResponse<unknown>) => (typeof res._data === "object" && res._data !== null ? res._data : undefined);

/** Two origins of one edge: the same, or this machine's names for one port (http://localhost:8080
 * and http://127.0.0.1:8080). */
function sameEdge(a: string, b: string): boolean {
  if (a === b) return true;
  const [x, y] = [new URL(a), new URL(b)];
  return x.protocol === y.protocol && x.port === y.port && isLoopbackHost(x.hostname) && isLoopbackHost(y.hostname);
}

/** A host the sign-in page may be at: a DNS name or an IP address. A URL's host may hold
 * `&`, `'`, `;` and more, which have no business in a URL that is printed and opened. */
const plainHost = (hostname: string) => isDnsName(hostname) || isIP(unbracket(hostname)) !== 0;

/**
 * The edge's OAuth metadata, from `base` (the edge's URL, or `https://<application hostname>`).
 * Over plain http (an edge on this machine) the answer must name base itself as the issuer:
 * else it could name another edge (where the user has a session) and be sent the token minted
 * there, which no TLS name check would stop. Over https the token goes only to a server that
 * proves the application's name (lib/access/dial.ts), so an IP address as --edge still works.
 */
export async function discover(base: string, ca?: string): Promise<ServerMetadata> {
  const ownIssuer = new URL(base).protocol === "http:";
  const url = new URL(METADATA_PATH, base).href;
  const res = await request(url, ca, { headers: { accept: "application/json" } });
  const m = res.ok ? (jsonObject(res) as Partial<ServerMetadata> | undefined) : undefined;
  if (!m || typeof m.issuer !== "string" || typeof m.token_endpoint !== "string" || typeof m.device_authorization_endpoint !== "string") {
    throw unreachableError(`${new URL(base).host} does not offer browser sign-in (no OAuth metadata at ${METADATA_PATH}); is this a wicket edge?`);
  }
  const issuer = URL.parse(m.issuer);
  const origin = issuer && plainHost(issuer.hostname) ? issuer.origin : undefined;
  if (!origin || (ownIssuer && !sameEdge(origin, new URL(base).origin))) throw unreachableError(`${new URL(base).host} names ${oneLine(m.issuer).slice(0, 200)} as its issuer, not itself; refusing to sign in through it`);
  // The refresh token goes to these endpoints: they must belong to the issuer.
  for (const e of [m.token_endpoint, m.device_authorization_endpoint, m.revocation_endpoint]) {
    if (e !== undefined && URL.parse(e)?.origin !== origin) throw unreachableError(`the edge's OAuth metadata points outside ${origin}; refusing to use it`);
  }
  return m as ServerMetadata;
}

function oauthJson(res: FetchResponse<unknown>): TokenResponse & OAuthErrorBody {
  const body = jsonObject(res);
  if (!body) throw temporaryError(`the edge answered ${res.status} ${res.statusText} without a JSON body; try again`);
  return body as TokenResponse & OAuthErrorBody;
}

/** An app token for `hostname` from an org session, or (`{ scope: "admin" }`) a new `edge login` for the one given: ok, or why not. */
export async function refreshGrant(meta: ServerMetadata, refreshToken: string, target: string | { scope: "admin" }, ca?: string): Promise<{ token: TokenResponse } | { error: string; description: string }> {
  const fields = typeof target === "string" ? { resource: `https://${target}` } : target;
  const res = await request(meta.token_endpoint, ca, form({ grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: refreshToken, ...fields }));
  const body = oauthJson(res);
  if (res.ok && body.access_token) return { token: body };
  return { error: body.error ?? `http ${res.status}`, description: body.error_description ?? `the edge refused (${res.status})` };
}

/** An app token for `hostname` for a workload's ID token (RFC 8693): ok, or why not. */
export async function tokenExchange(meta: ServerMetadata, idToken: string, hostname: string, ca?: string): Promise<{ token: TokenResponse } | { error: string; description: string }> {
  const res = await request(meta.token_endpoint, ca, form({ grant_type: TOKEN_EXCHANGE_GRANT, client_id: CLIENT_ID, subject_token: idToken, subject_token_type: ID_TOKEN_TYPE, resource: `https://${hostname}` }));
  const body = oauthJson(res);
  if (res.ok && body.access_token) return { token: body };
  return { error: body.error ?? `http ${res.status}`, description: body.error_description ?? `the edge refused (${res.status})` };
}

export async function revokeToken(meta: ServerMetadata, token: string, ca?: string): Promise<void> {
  if (!meta.revocation_endpoint) return;
  await request(meta.revocation_endpoint, ca, form({ token, token_type_hint: "refresh_token", client_id: CLIENT_ID }));
}

export type DeviceFlowOptions = {
  scope: "app" | "tunnel" | "admin";
  /** For "app": the application hostname. */
  hostname?: string;
  ca?: string;
  browser: BrowserMode;
  /** What the sign-in is for, in the prompt: "ssh.example.com", "a zone credential". */
  what: string;
  signal?: AbortSignal;
};

/** The edge's answer to a device authorization request, checked, and the page to show. */
type DeviceStart = { deviceCode: string; userCode: string; page: string; codeInLink: boolean; expiresIn?: number; interval?: number };

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * The code is shown on the terminal and the page goes to the browser: the code must be one as
 * the edge issues them (lib/wire/user-code.ts), and the page is built here from the issuer and
 * the code, never taken from the answer: an edge's URL could hold escapes for the terminal
 * (a title, a fake prompt, OSC 52 to the clipboard) or text an opener would run. The edge's
 * URIs must still be at its origin: anything else is not a wicket edge's answer.
 */
function deviceStart(res: FetchResponse<unknown>, issuer: string): DeviceStart {
  const d: Record<string, unknown> & OAuthErrorBody = oauthJson(res);
  const [deviceCode, userCode, uri, complete] = [str(d.device_code), str(d.user_code), str(d.verification_uri), str(d.verification_uri_complete)];
  if (!res.ok || !deviceCode || !userCode || !uri) {
    const why = d.error_description ?? `the edge answered ${res.status}`;
    throw d.error === "invalid_target" ? configError(why) : temporaryError(`cannot start the sign-in: ${why}`);
  }
  const origin = new URL(issuer).origin;
  if (!isUserCode(userCode) || [uri, complete].some((u) => u !== undefined && URL.parse(u)?.origin !== origin)) {
    throw unreachableError(`the edge's sign-in answer is not its own (a code or page outside ${origin}); refusing to show or open it`);
  }
  // Without the complete URI (a zone credential), the person types the code into the page.
  const codeInLink = complete !== undefined;
  return { deviceCode, userCode, page: verificationUrl(issuer, codeInLink ? userCode : undefined), codeInLink, expiresIn: num(d.expires_in), interval: num(d.interval) };
}

/**
 * RFC 8628 from the device's side: ask for a code, show it (stderr: stdout may be an SSH
 * stream) and open the browser, then poll until the person has approved or refused.
 */
export async function deviceFlow(meta: ServerMetadata, o: DeviceFlowOptions): Promise<TokenResponse> {
  const fields: Record<string, string> = { client_id: CLIENT_ID, scope: o.scope };
  if (o.hostname) fields.resource = `https://${o.hostname}`;
  const d = deviceStart(await request(meta.device_authorization_endpoint, o.ca, form(fields)), meta.issuer);
  const step = d.codeInLink ? `check that it shows the code ${d.userCode}` : `type the code ${d.userCode}`;
  process.stderr.write(`To sign in for ${o.what}, open this page and ${step}:\n  ${d.page}\n`);
  if (o.browser === "open" && !openBrowser(d.page)) process.stderr.write("(no browser could be opened here: open the page on any device)\n");

  let interval = Math.max(1, d.interval ?? 5) * 1000;
  const deadline = Date.now() + (d.expiresIn ?? 600) * 1000;
  let failures = 0;
  for (;;) {
    if (!(await sleep(interval, o.signal))) throw temporaryError("sign-in interrupted");
    let r: FetchResponse<unknown>;
    try {
      r = await request(meta.token_endpoint, o.ca, form({ grant_type: DEVICE_GRANT, device_code: d.deviceCode, client_id: CLIENT_ID }));
    } catch (e) {
      // The edge restarting while the person signs in should not lose the sign-in.
      if (++failures >= 5 || Date.now() > deadline) throw e;
      log.debug(`polling the edge failed: ${(e as Error).message}`);
      continue;
    }
    failures = 0;
    const body = oauthJson(r);
    if (r.ok && body.access_token) return body;
    switch (body.error) {
      case "authorization_pending":
        continue;
      case "slow_down":
        interval += 5_000;
        continue;
      case "access_denied":
        throw deniedError(body.error_description ?? "the sign-in was denied");
      case "expired_token":
        throw deniedError(body.error_description ?? "the sign-in code expired before it was confirmed; run the command again");
      default:
        throw deniedError(`the sign-in failed: ${body.error_description ?? body.error ?? `the edge answered ${r.status}`}`);
    }
  }
}

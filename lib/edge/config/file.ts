// The edge's YAML config file (`wicket edge serve --config edge.yaml`): static settings that
// flags override. Keys are the flags' names. Every key is checked at start; an unknown key or
// a bad value stops the edge with the file, the key and the reason, so a typo is never
// silently ignored.
//
//   listen: 0.0.0.0:443
//   public-url: https://edge.example.com
//   data-dir: /var/lib/wicket
//   tls: self-signed                 # or acme, or off; or tls-cert + tls-key
//   acme-email: ops@example.com      # with tls: acme; also acme-directory, acme-ca-file,
//   acme-challenge: tls-alpn-01      #   acme-challenge (tls-alpn-01 on this port, the default),
//   acme-http-listen: ":80"          #   acme-http-listen (HTTP-01), acme-dns-hook (DNS-01)
//   metrics: 127.0.0.1:9091          # /metrics, /ready, /healthz on their own listener
//   name: Example Corp               # who is asking, on every page (default: the public host)
//   logo: /etc/wicket/logo.svg       # shown beside the name; svg, png, jpeg, webp or gif
//   grace-period: 30s                # on SIGTERM, how long client sessions may continue
//   terminal-idle-timeout: 30m       # a browser terminal without input this long is closed; 0 never
//   recording-zone-limit: 4GiB       # the store the recordings of one zone may take together
//   session-length: 24h              # one sign-in lasts this long (browser and CLI)
//   app-session-length: 8h           # an app token lasts this long (never past the sign-in)
//   connector-limits: { connections-per-credential: 512, connections-per-zone: 4096 }   # per node;
//                                    # also connections-per-tunnel, hostnames-per-zone
//   smtp: { host: smtp.example.com, port: 587, user: wicket, password: "…", from: "wicket <no-reply@example.com>" }
//   admins: [email:ops@example.com, group:platform]   # who administers the whole edge, as themselves
//   admins-require: mfa              # and only after signing in with a second factor
//   identity-providers:
//     - { name: email, type: otp }
//     - { name: okta, type: oidc, issuer: https://example.okta.com, client-id: …, client-secret: …, groups-claim: groups }
//   workload-issuers:                # CI jobs by their ID token (workload: rules; docs/ci.md)
//     - { name: github, issuer: https://token.actions.githubusercontent.com }
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import { configError } from "../../cli/exit.ts";
import { durationMs, sizeBytes, unreadable } from "../../cli/values.ts";
import { isLoopbackHost } from "../../net/address.ts";
import { DEFAULT_SESSION_LENGTH_MS } from "../../store/zones.ts";
import type { OidcProvider } from "../../auth/oidc.ts";
import type { SmtpSettings } from "../../auth/otp.ts";
import type { WorkloadIssuer } from "../../auth/workload-keys.ts";

// The providers' settings are the identity modules' own (lib/auth/); the file reads them.
export type { OidcProvider, SmtpSettings };
import type { ConnectorLimits } from "../streams/connector-limits.ts";

export type OtpProvider = { type: "otp"; name: string; displayName: string };
export type IdentityProvider = OtpProvider | OidcProvider;

/** An image the edge serves at LOGO_PATH (lib/edge/http/pages.ts). */
export type Logo = { file: string; type: string; bytes: Uint8Array };
/** Who is asking: the organisation's name and logo on every page the edge serves. */
export type Brand = { name?: string; logo?: Logo };

const LOGO_TYPES: Record<string, string> = { ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif" };
// A logo is read once and held in memory; a page header needs nothing bigger.
const LOGO_MAX_BYTES = 256 * 1024;

/** The logo file, read and checked; a string says why it cannot be used. */
export function readLogo(file: string): Logo | string {
  const type = LOGO_TYPES[extname(file).toLowerCase()];
  if (!type) return `${file} is not an image wicket serves; use a .svg, .png, .jpg, .webp or .gif file`;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    return `cannot read ${file}: ${unreadable(e)}`;
  }
  if (bytes.length > LOGO_MAX_BYTES) return `${file} is ${Math.ceil(bytes.length / 1024)} KiB; a logo may be at most ${LOGO_MAX_BYTES / 1024} KiB`;
  return { file, type, bytes };
}


/** What the file may say; everything optional, flags and defaults fill the rest. */
export type EdgeFileConfig = {
  listen?: string;
  "public-url"?: string;
  "peer-url"?: string;
  "data-dir"?: string;
  database?: string;
  tls?: "self-signed" | "off" | "acme";
  "acme-email"?: string;
  "acme-directory"?: string;
  "acme-ca-file"?: string;
  "acme-challenge"?: string;
  "acme-http-listen"?: string;
  "acme-dns-hook"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "downloads-dir"?: string;
  "trusted-proxies"?: string[];
  "audit-retention"?: string;
  "recording-retention"?: string;
  /** "0" (never) or a duration, read where the flag is. */
  "terminal-idle-timeout"?: string;
  /** A size ("4GiB"), read where the flag is. */
  "recording-zone-limit"?: string;
  "audit-fail-open"?: boolean;
  /** Milliseconds. */
  "zone-credential-lifetime"?: number;
  metrics?: string;
  name?: string;
  logo?: Logo;
  /** Milliseconds, like every duration here. */
  "grace-period"?: number;
  "keepalive-interval"?: number;
  "keepalive-timeout"?: number;
  dev?: boolean;
  "session-length"?: number;
  "app-session-length"?: number;
  "device-code-lifetime"?: number;
  "device-poll-interval"?: number;
  "pin-lifetime"?: number;
  smtp?: SmtpSettings;
  "identity-providers"?: IdentityProvider[];
  /** Some of CONNECTOR_LIMITS (lib/edge/streams/connector-limits.ts), changed. */
  "connector-limits"?: Partial<ConnectorLimits>;
  "workload-issuers"?: WorkloadIssuer[];
  /** Rules in the policy grammar, checked by lib/edge/admin/people.ts where the edge starts. */
  admins?: string[];
  "admins-require"?: "mfa";
};

/** Sign-in settings the edge runs with, defaults filled in. */
export type IdentitySettings = {
  dev: boolean;
  sessionMs: number;
  appSessionMs: number;
  deviceLifetimeMs: number;
  pollIntervalMs: number;
  pinLifetimeMs: number;
  smtp?: SmtpSettings;
  providers: IdentityProvider[];
  /** Issuers of workloads' ID tokens (lib/auth/workload.ts), for `workload:` rules. */
  workloadIssuers: WorkloadIssuer[];
  /** Who is asking (`name`, `logo`): every page the edge serves shows it. */
  brand?: Brand;
};

export const DEFAULT_OTP: OtpProvider = { type: "otp", name: "email", displayName: "E-mail (one-time PIN)" };

export function identitySettings(c: EdgeFileConfig, dev = c.dev ?? false): IdentitySettings {
  return {
    dev,
    sessionMs: c["session-length"] ?? 24 * 3_600_000,
    appSessionMs: c["app-session-length"] ?? DEFAULT_SESSION_LENGTH_MS,
    deviceLifetimeMs: c["device-code-lifetime"] ?? 10 * 60_000,
    pollIntervalMs: c["device-poll-interval"] ?? 5_000,
    pinLifetimeMs: c["pin-lifetime"] ?? 10 * 60_000,
    smtp: c.smtp,
    // The embedded default: with no providers configured, people sign in with a PIN by e-mail.
    providers: c["identity-providers"] ?? [DEFAULT_OTP],
    workloadIssuers: c["workload-issuers"] ?? [],
  };
}

class Bad extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(reason);
  }
}

type Check<T> = (v: unknown, key: string) => T;

const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

const str: Check<string> = (v, key) => {
  if (typeof v !== "string" || v.trim() === "") throw new Bad(key, `must be a non-empty string, not ${show(v)}`);
  return v;
};
const bool: Check<boolean> = (v, key) => {
  if (typeof v !== "boolean") throw new Bad(key, `must be true or false, not ${show(v)}`);
  return v;
};
const port: Check<number> = (v, key) => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) throw new Bad(key, `must be a port number from 1 to 65535, not ${show(v)}`);
  return v;
};
const url: Check<string> = (v, key) => {
  const s = str(v, key);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Bad(key, `must be a URL such as https://edge.example.com, not ${show(v)}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new Bad(key, `must be an http(s) URL, not ${show(v)}`);
  return s.replace(/\/+$/, "");
};
const duration: Check<number> = (v, key) => {
  // a bare number (YAML's, not text) is seconds; text must carry its unit
  const ms = typeof v === "number" ? v * 1000 : typeof v === "string" && !/\d$/.test(v.trim()) ? durationMs(v) : undefined;
  if (ms === undefined || !(ms > 0)) throw new Bad(key, `must be a duration such as 30s, 15m, 8h or 7d, not ${show(v)}`);
  return ms;
};
/** "0" (never, keep forever) or a duration, kept as written: checked again where the flag is. */
const durationOrZero: Check<string> = (v, key) => (v === 0 || v === "0" ? "0" : (duration(v, key), String(v)));
const oneOf =
  <T extends string>(...options: T[]): Check<T> =>
  (v, key) => {
    if (typeof v !== "string" || !options.includes(v as T)) throw new Bad(key, `must be one of ${options.join(", ")}, not ${show(v)}`);
    return v as T;
  };
const pemFile: Check<string> = (v, key) => {
  const path = str(v, key);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Bad(key, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Bad(key, `${path} holds no PEM certificate`);
  return text;
};
const stringList: Check<string[]> = (v, key) => {
  if (!Array.isArray(v) || v.length === 0) throw new Bad(key, `must be a list of strings, not ${show(v)}`);
  return v.map((x, i) => str(x, `${key}[${i}]`));
};
const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const idpName: Check<string> = (v, key) => {
  const s = str(v, key);
  if (!NAME.test(s)) throw new Bad(key, `must be a short name of lower-case letters, digits, "-" or "_" (it is used in URLs and in idp: rules), not ${show(v)}`);
  return s;
};

/** Checks an object's keys against a schema: unknown keys and missing required ones are errors. */
type Checked<F extends Record<string, Check<unknown>>, R extends keyof F> = { [K in keyof F]?: ReturnType<F[K]> } & { [K in R]-?: ReturnType<F[K]> };
function object<F extends Record<string, Check<unknown>>, R extends keyof F & string = never>(v: unknown, key: string, fields: F, required: R[] = []): Checked<F, R> {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Bad(key, `must be a mapping of keys to values, not ${show(v)}`);
  const out: Record<string, unknown> = {};
  const at = (k: string) => (key ? `${key}.${k}` : k);
  for (const [k, val] of Object.entries(v)) {
    const check = fields[k];
    if (!check) throw new Bad(at(k), `is not a known key; known keys here are ${Object.keys(fields).join(", ")}`);
    if (val === null || val === undefined) continue;
    out[k] = check(val, at(k));
  }
  for (const r of required) if (out[r] === undefined) throw new Bad(at(r), `is required`);
  return out as Checked<F, R>;
}

const smtp: Check<SmtpSettings> = (v, key) => {
  const o = object(v, key, { host: str, port, secure: bool, user: str, password: str, from: str, "ca-file": pemFile }, ["host", "from"]);
  if (Boolean(o.user) !== Boolean(o.password)) throw new Bad(`${key}.${o.user ? "password" : "user"}`, "user and password go together");
  const s: SmtpSettings = { host: o.host, port: o.port ?? (o.secure ? 465 : 587), secure: o.secure ?? false, from: o.from };
  if (o.user) Object.assign(s, { user: o.user, password: o.password });
  if (o["ca-file"]) s.caPem = o["ca-file"];
  return s;
};

const count: Check<number> = (v, key) => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new Bad(key, `must be a whole number of at least 1, not ${show(v)}`);
  return v;
};
const connectorLimits: Check<Partial<ConnectorLimits>> = (v, key) => {
  const o = object(v, key, { "connections-per-tunnel": count, "connections-per-credential": count, "connections-per-zone": count, "hostnames-per-zone": count });
  const limits: Partial<ConnectorLimits> = {};
  if (o["connections-per-tunnel"]) limits.connectionsPerTunnel = o["connections-per-tunnel"];
  if (o["connections-per-credential"]) limits.connectionsPerCredential = o["connections-per-credential"];
  if (o["connections-per-zone"]) limits.connectionsPerZone = o["connections-per-zone"];
  if (o["hostnames-per-zone"]) limits.hostnamesPerZone = o["hostnames-per-zone"];
  return limits;
};

const provider: Check<IdentityProvider> = (v, key) => {
  const type = object({ type: typeof v === "object" && v !== null && "type" in v ? v.type : undefined }, key, { type: oneOf("otp", "oidc") }, ["type"]).type;
  if (type === "otp") {
    const o = object(v, key, { type: str, name: idpName, "display-name": str }, ["name"]);
    return { type: "otp", name: o.name, displayName: o["display-name"] ?? DEFAULT_OTP.displayName };
  }
  const o = object(
    v,
    key,
    { type: str, name: idpName, "display-name": str, issuer: url, "client-id": str, "client-secret": str, scopes: stringList, "groups-claim": str, "ca-file": pemFile, "trust-email": bool },
    ["name", "issuer", "client-id"],
  );
  const scopes: string[] = o.scopes ?? ["openid", "email", "profile"];
  if (!scopes.includes("openid")) throw new Bad(`${key}.scopes`, `must include "openid"`);
  const p: OidcProvider = { type: "oidc", name: o.name, displayName: o["display-name"] ?? o.name, issuer: o.issuer, clientId: o["client-id"], scopes, groupsClaim: o["groups-claim"] ?? "groups" };
  if (o["client-secret"]) p.clientSecret = o["client-secret"];
  if (o["ca-file"]) p.caPem = o["ca-file"];
  if (o["trust-email"]) p.trustEmail = true;
  return p;
};

const providers: Check<IdentityProvider[]> = (v, key) => {
  if (!Array.isArray(v) || v.length === 0) throw new Bad(key, `must be a list of providers, each with a name and a type (otp or oidc)`);
  const list = v.map((p, i) => provider(p, `${key}[${i}]`));
  const seen = new Set<string>();
  list.forEach((p, i) => {
    if (seen.has(p.name)) throw new Bad(`${key}[${i}].name`, `"${p.name}" is used by two providers; names must be unique`);
    seen.add(p.name);
  });
  return list;
};

const workloadIssuer: Check<WorkloadIssuer> = (v, key) => {
  const o = object(v, key, { name: idpName, issuer: str, audience: str, "ca-file": pemFile, "max-stale": duration }, ["name", "issuer"]);
  // the tokens' iss, compared exactly: https, or http only for an issuer on this machine
  const u = URL.parse(o.issuer);
  if (!u || !(u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname)))) throw new Bad(`${key}.issuer`, `must be the issuer's https URL, exactly as its tokens' "iss" claim says, not ${show(o.issuer)}`);
  const [audience, caPem, maxStaleMs] = [o.audience, o["ca-file"], o["max-stale"]];
  return { name: o.name, issuer: o.issuer, ...(audience ? { audience } : {}), ...(caPem ? { caPem } : {}), ...(maxStaleMs ? { maxStaleMs } : {}) };
};

const workloadIssuers: Check<WorkloadIssuer[]> = (v, key) => {
  if (!Array.isArray(v) || v.length === 0) throw new Bad(key, `must be a list of issuers, each with a name and an issuer URL`);
  const list = v.map((x, i) => workloadIssuer(x, `${key}[${i}]`));
  list.forEach((x, i) => {
    if (list.findIndex((y) => y.name === x.name) !== i) throw new Bad(`${key}[${i}].name`, `"${x.name}" is used by two issuers; names must be unique`);
    if (list.findIndex((y) => y.issuer === x.issuer) !== i) throw new Bad(`${key}[${i}].issuer`, `${x.issuer} is listed twice; one issuer, one name`);
  });
  return list;
};


const FIELDS: { [K in keyof EdgeFileConfig]-?: Check<NonNullable<EdgeFileConfig[K]>> } = {
  listen: str,
  "public-url": url,
  "peer-url": url,
  "data-dir": str,
  database: str,
  tls: oneOf("self-signed", "off", "acme"),
  "acme-email": str,
  "acme-directory": (v, key) => (v === "staging" || v === "letsencrypt" ? v : url(v, key)),
  "acme-ca-file": str,
  "acme-challenge": oneOf("tls-alpn-01", "http-01", "dns-01"),
  "acme-http-listen": str,
  "acme-dns-hook": str,
  "tls-cert": str,
  "tls-key": str,
  "downloads-dir": str,
  "trusted-proxies": (v, key) => (typeof v === "string" ? v.split(",").map((s) => s.trim()) : stringList(v, key)),
  "audit-retention": durationOrZero,
  "recording-retention": durationOrZero,
  "terminal-idle-timeout": durationOrZero,
  "recording-zone-limit": (v, key) => {
    if (typeof v !== "string" || sizeBytes(v) === undefined) throw new Bad(key, `must be a size such as 4GiB, not ${show(v)}`);
    return v;
  },
  "audit-fail-open": bool,
  "zone-credential-lifetime": duration,
  metrics: str,
  name: (v, key) => str(v, key).trim(),
  logo: (v, key) => {
    const logo = readLogo(str(v, key));
    if (typeof logo === "string") throw new Bad(key, logo);
    return logo;
  },
  "grace-period": duration,
  "keepalive-interval": duration,
  "keepalive-timeout": duration,
  dev: bool,
  "session-length": duration,
  "app-session-length": duration,
  "device-code-lifetime": duration,
  "device-poll-interval": duration,
  "pin-lifetime": duration,
  smtp,
  "identity-providers": providers,
  "connector-limits": connectorLimits,
  "workload-issuers": workloadIssuers,
  admins: stringList,
  "admins-require": oneOf("mfa"),
};

/** Checks a parsed YAML value; `file` names it in errors. */
export function checkEdgeConfig(value: unknown, file: string): EdgeFileConfig {
  if (value === null || value === undefined) return {};
  try {
    return object(value, "", FIELDS);
  } catch (e) {
    if (e instanceof Bad) throw configError(`${file}: "${e.key}" ${e.message}`);
    throw e;
  }
}

/** Reads and checks the config file; every problem is a config error (exit 78) naming file and key. */
export function loadEdgeConfig(file: string): EdgeFileConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw configError(`cannot read the config file ${file}: ${unreadable(e)}`);
  }
  const doc = parseDocument(text);
  const err = doc.errors[0];
  if (err) {
    const at = err.linePos?.[0];
    throw configError(`${file}${at ? `:${at.line}:${at.col}` : ""}: ${err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  return checkEdgeConfig(doc.toJS(), file);
}

/** Every key an edge.yaml may hold. */
export const EDGE_CONFIG_KEYS = Object.keys(FIELDS) as (keyof EdgeFileConfig)[];

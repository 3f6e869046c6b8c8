// What `wicket edge serve` runs with: its flags, and how lib/cli/settings.ts reads them (flag,
// WICKET_<FLAG>, the --config file's key, the default) into the edge's options. The file's
// keys are checked by lib/edge/config/file.ts before any is used.
import { isIP } from "node:net";
import { resolve } from "node:path";
import type { ArgsDef } from "citty";
import { logArgs, repeatedFlag, type Env } from "../../cli/args.ts";
import { parseEdgeAdmins, type EdgeAdmins } from "../admin/people.ts";
import { configError, usageError } from "../../cli/exit.ts";
import { settingsFrom } from "../../cli/settings.ts";
import { defaultEdgeDataDir } from "../../paths.ts";
import { unbracket } from "../../net/address.ts";
import { DEFAULT_KEEPALIVE } from "../../wire/mux.ts";
import { ACME_CHALLENGES, acmeDirectory, type AcmeChallenge, type AcmeSettings } from "../http/acme.ts";
import { identitySettings, loadEdgeConfig, readLogo, type EdgeFileConfig, type Logo } from "./file.ts";
import { DEFAULT_TERMINAL_IDLE_MS } from "../terminal/ssh.ts";
import { DEFAULT_ZONE_RECORDING_LIMIT } from "../terminal/recorder.ts";
import { parseSize } from "../../cli/values.ts";
import { DEFAULT_AUDIT_RETENTION_MS, DEFAULT_RECORDING_RETENTION_MS, type EdgeOptions } from "../server.ts";
import { DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS } from "../../store/zone-credentials.ts";
import { CONNECTOR_LIMITS } from "../streams/connector-limits.ts";

export const serveArgs = {
  config: { type: "string", description: "YAML config file (env WICKET_CONFIG); flags override what it says", valueHint: "file" },
  listen: { type: "string", description: "address to listen on (env WICKET_LISTEN; default 127.0.0.1:8443)", valueHint: "host:port" },
  "public-url": { type: "string", description: "URL clients and connectors use to reach this edge", valueHint: "url" },
  "data-dir": { type: "string", description: "where the store, CA and admin token live (default ~/.wicket/edge)", valueHint: "dir" },
  database: { type: "string", description: "database URL (default: SQLite in the data directory)", valueHint: "url" },
  tls: { type: "string", description: "self-signed (default) | acme (certificates from Let's Encrypt or another ACME CA) | off (plain HTTP behind a TLS-terminating proxy); ignored with --tls-cert", valueHint: "mode" },
  "tls-cert": { type: "string", description: "certificate chain PEM (a wildcard per zone)", valueHint: "file" },
  "tls-key": { type: "string", description: "private key PEM", valueHint: "file" },
  "acme-email": { type: "string", description: "with --tls acme: the ACME account's contact address (env WICKET_ACME_EMAIL)", valueHint: "email" },
  "acme-directory": { type: "string", description: "with --tls acme: the ACME directory URL, or staging for Let's Encrypt's staging directory (default: Let's Encrypt)", valueHint: "url" },
  "acme-ca-file": { type: "string", description: "with --tls acme: a CA to trust for the ACME directory's own HTTPS (a private ACME server)", valueHint: "file" },
  "acme-challenge": { type: "string", description: "with --tls acme: how names other than wildcards (always dns-01) are proved: tls-alpn-01 (on the edge's own port) | http-01 (needs --acme-http-listen) | dns-01 (needs --acme-dns-hook); default http-01 with --acme-http-listen, else dns-01 with --acme-dns-hook, else tls-alpn-01", valueHint: "type" },
  "acme-http-listen": { type: "string", description: "with --tls acme: answer HTTP-01 challenges here, e.g. :80, and redirect other plain HTTP to HTTPS", valueHint: "host:port" },
  "acme-dns-hook": { type: "string", description: "with --tls acme: a script for DNS-01 (needed for wildcard applications), called with present|cleanup, the record name and its value", valueHint: "file" },
  metrics: { type: "string", description: "serve /metrics, /ready and /healthz on this separate address, e.g. 127.0.0.1:9091 (env WICKET_METRICS)", valueHint: "host:port" },
  "grace-period": { type: "string", description: "on SIGTERM, how long client sessions may continue after connectors are told to move (default 30s)", valueHint: "duration" },
  "keepalive-interval": { type: "string", description: `how often to ping connectors and clients (default ${DEFAULT_KEEPALIVE.intervalMs / 1000}s)`, valueHint: "duration" },
  "keepalive-timeout": { type: "string", description: `drop a connector or client silent this long (default ${DEFAULT_KEEPALIVE.timeoutMs / 1000}s)`, valueHint: "duration" },
  dev: { type: "boolean", description: "development mode: with no SMTP configured, sign-in PINs are written to the log" },
  "downloads-dir": { type: "string", description: "serve /install.sh and the builds in this folder, the output of `bun run build --all` (env WICKET_DOWNLOADS_DIR)", valueHint: "dir" },
  "trusted-proxies": { type: "string", description: "proxies whose X-Forwarded-For gives the client's address, comma-separated IPs or CIDR ranges (env WICKET_TRUSTED_PROXIES); nobody else's is believed", valueHint: "cidr,..." },
  "audit-retention": { type: "string", description: "how long audit records are kept, e.g. 90d (the default); 0 keeps them forever (env WICKET_AUDIT_RETENTION)", valueHint: "duration" },
  "recording-retention": { type: "string", description: "how long recordings of browser terminal sessions are kept, e.g. 30d (the default); 0 keeps them forever (env WICKET_RECORDING_RETENTION)", valueHint: "duration" },
  "terminal-idle-timeout": { type: "string", description: "close a browser terminal that has had no input for this long, e.g. 30m (the default); 0 never (env WICKET_TERMINAL_IDLE_TIMEOUT)", valueHint: "duration" },
  "recording-zone-limit": {
    type: "string",
    description: "how much of the store the recordings of one zone may take together, e.g. 4GiB (the default); at it, the zone's recorded terminal sessions end and new ones do not start (env WICKET_RECORDING_ZONE_LIMIT)",
    valueHint: "size",
  },
  "peer-url": { type: "string", description: "with several nodes on PostgreSQL: where the other nodes reach this one, e.g. https://10.0.0.5:8443 (default: its listen address) (env WICKET_PEER_URL)", valueHint: "url" },
  "zone-credential-lifetime": { type: "string", description: "how long a zone credential from `tunnel login` or `edge tunnel-cert` lasts, e.g. 90d (default 365d) (env WICKET_ZONE_CREDENTIAL_LIFETIME)", valueHint: "duration" },
  name: { type: "string", description: "the organisation's name on every page the edge shows, e.g. \"Example Corp\" (default: the public host) (env WICKET_NAME)", valueHint: "text" },
  logo: { type: "string", description: "an image shown beside the name on every page: .svg, .png, .jpg, .webp or .gif, at most 256 KiB (env WICKET_LOGO)", valueHint: "file" },
  admin: { type: "string", description: "who administers the whole edge as themselves: a rule in the policy grammar, e.g. email:ops@example.com, domain:example.com or group:platform (repeatable; with edge.yaml's admins:)", valueHint: "rule" },
  "audit-fail-open": { type: "boolean", description: "let allowed clients in even when the audit cannot be written (default: refuse them) (env WICKET_AUDIT_FAIL_OPEN=1)", default: false },
  ...logArgs,
} as const satisfies ArgsDef;

/** The edge's admins from `--admin` and the file, checked: a bad rule stops the edge, named. */
function edgeAdmins(rules: string[], require: string | undefined, configFile: string | undefined): EdgeAdmins | undefined {
  if (rules.length === 0) {
    if (require) throw configError(`${configFile}: "admins-require" needs admins: a list of who administers the edge`);
    return undefined;
  }
  try {
    return parseEdgeAdmins(rules, require);
  } catch (e) {
    throw usageError(`--admin / admins: ${(e as Error).message}`);
  }
}

/** `--tls acme`: what the CA needs (an e-mail, the edge's DNS name) and a challenge this edge can answer. */
function acmeSettings(text: (flag: string) => string | undefined): AcmeSettings {
  const email = text("acme-email");
  if (!email) throw usageError("--tls acme needs --acme-email, the address the CA writes to about the account and expiring certificates");
  const publicUrl = text("public-url");
  if (!publicUrl || isIP(unbracket(new URL(publicUrl).hostname))) throw usageError("--tls acme needs --public-url with the edge's DNS name, e.g. https://edge.example.com, for its certificate");
  const httpListen = text("acme-http-listen");
  const dnsHook = text("acme-dns-hook");
  // the default keeps what an edge.yaml from before TLS-ALPN-01 meant: HTTP-01 with a listener for it, else DNS-01 with a hook
  const challenge = (text("acme-challenge") ?? (httpListen ? "http-01" : dnsHook ? "dns-01" : "tls-alpn-01")) as AcmeChallenge;
  if (!ACME_CHALLENGES.includes(challenge)) throw usageError(`--acme-challenge "${challenge}" is not a challenge type; use tls-alpn-01, http-01 or dns-01`);
  if (challenge === "http-01" && !httpListen) throw usageError("--acme-challenge http-01 needs --acme-http-listen, e.g. :80, where the CA asks for the answers");
  if (challenge === "dns-01" && !dnsHook) throw usageError("--acme-challenge dns-01 needs --acme-dns-hook /path/to/script, which publishes the TXT records");
  const s: AcmeSettings = { email, challenge, directory: acmeDirectory(text("acme-directory")) };
  const caFile = text("acme-ca-file");
  if (caFile) s.caFile = resolve(caFile);
  if (httpListen) s.httpListen = httpListen.startsWith(":") ? `0.0.0.0${httpListen}` : httpListen;
  if (dnsHook) s.dnsHook = resolve(dnsHook);
  return s;
}

/** --logo: the file read now, so a wrong path stops the edge at start. */
function logoFrom(file: string, where: string): Logo {
  const logo = readLogo(file);
  if (typeof logo === "string") throw usageError(`${where}: ${logo}`);
  return logo;
}

export interface ServeSettings {
  edge: Omit<EdgeOptions, "version">;
  /** On SIGTERM, how long client sessions may continue. */
  gracePeriodMs: number;
}

export function resolveServeSettings(args: Record<string, unknown>, rawArgs: readonly string[], env: Env = process.env): ServeSettings {
  const sources = { args, rawArgs, env };
  const configFile = settingsFrom(sources).text("config");
  const file: EdgeFileConfig = configFile ? loadEdgeConfig(configFile) : {};
  const { get, text, duration, keepalive, bool } = settingsFrom({
    ...sources,
    file: (key) => {
      const value = file[key as keyof EdgeFileConfig];
      return value === undefined ? undefined : { value, where: `${configFile}: "${key}"` };
    },
  });

  const cert = text("tls-cert");
  const key = text("tls-key");
  if (Boolean(cert) !== Boolean(key)) throw usageError("--tls-cert and --tls-key go together");
  const mode = get("tls", (t, where) => {
    if (!cert && t !== "self-signed" && t !== "off" && t !== "acme") throw usageError(`${where} "${t}" is not a mode; use self-signed, acme or off, or give --tls-cert and --tls-key`);
    return t;
  });
  const tls: EdgeOptions["tls"] = cert ? { mode: "files", cert, key: key! } : mode === "off" ? { mode: "off" } : mode === "acme" ? { mode: "acme", acme: acmeSettings(text) } : { mode: "self-signed" };
  const keepaliveMs = keepalive(DEFAULT_KEEPALIVE);
  const gracePeriodMs = duration("grace-period", 30_000);
  const dev = bool("dev");
  const downloadsDir = text("downloads-dir");
  return {
    edge: {
      listen: text("listen") ?? "127.0.0.1:8443",
      publicUrl: text("public-url"),
      peerUrl: text("peer-url"),
      dataDir: text("data-dir") ?? defaultEdgeDataDir(),
      database: text("database"),
      tls,
      keepalive: keepaliveMs,
      metrics: text("metrics"),
      identity: { ...identitySettings(file, dev), brand: { name: text("name")?.trim() || undefined, logo: get("logo", logoFrom) } },
      downloadsDir: downloadsDir && resolve(downloadsDir),
      // a list from the file arrives joined by commas, like the flag
      trustedProxies: get("trusted-proxies", (t) => t.split(",")),
      // "0" is a duration of 0: keep them forever
      auditRetentionMs: duration("audit-retention", DEFAULT_AUDIT_RETENTION_MS),
      recordingRetentionMs: duration("recording-retention", DEFAULT_RECORDING_RETENTION_MS),
      auditFailOpen: bool("audit-fail-open"),
      zoneCredentialLifetimeMs: duration("zone-credential-lifetime", DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS),
      // "0" is a duration of 0: never
      terminalIdleTimeoutMs: duration("terminal-idle-timeout", DEFAULT_TERMINAL_IDLE_MS),
      // the file's only: limits are an operator's choice for the edge, not a flag per run
      connectorLimits: { ...CONNECTOR_LIMITS, ...file["connector-limits"] },
      zoneRecordingLimit: get("recording-zone-limit", (t, where) => parseSize(t, "recording-zone-limit", where), DEFAULT_ZONE_RECORDING_LIMIT),
      admins: edgeAdmins([...repeatedFlag(rawArgs, "admin", args.admin), ...(file.admins ?? [])], file["admins-require"], configFile),
    },
    gracePeriodMs,
  };
}

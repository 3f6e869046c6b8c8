// What `wicket edge serve` runs with: its flags, and how lib/cli/settings.ts reads them (flag,
// WICKET_<FLAG>, the --config file's key, the default) into the edge's options. The file's
// keys are checked by lib/edge/config.ts before any is used.
import { resolve } from "node:path";
import type { ArgsDef } from "citty";
import { logArgs, type Env } from "../cli/args.ts";
import { usageError } from "../cli/exit.ts";
import { settingsFrom } from "../cli/settings.ts";
import { defaultEdgeDataDir } from "../paths.ts";
import { DEFAULT_KEEPALIVE } from "../wire/mux.ts";
import { identitySettings, loadEdgeConfig, type EdgeFileConfig } from "./config.ts";
import { DEFAULT_AUDIT_RETENTION_MS, type EdgeOptions } from "./server.ts";
import { DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS } from "../store/zone-credentials.ts";

export const serveArgs = {
  config: { type: "string", description: "YAML config file (env WICKET_CONFIG); flags override what it says", valueHint: "file" },
  listen: { type: "string", description: "address to listen on (env WICKET_LISTEN; default 127.0.0.1:8443)", valueHint: "host:port" },
  "public-url": { type: "string", description: "URL clients and connectors use to reach this edge", valueHint: "url" },
  "data-dir": { type: "string", description: "where the store, CA and admin token live (default ~/.wicket/edge)", valueHint: "dir" },
  database: { type: "string", description: "database URL (default: SQLite in the data directory)", valueHint: "url" },
  tls: { type: "string", description: "self-signed (default) | off (plain HTTP behind a TLS-terminating proxy); ignored with --tls-cert", valueHint: "mode" },
  "tls-cert": { type: "string", description: "certificate chain PEM (a wildcard per zone)", valueHint: "file" },
  "tls-key": { type: "string", description: "private key PEM", valueHint: "file" },
  metrics: { type: "string", description: "serve /metrics, /ready and /healthz on this separate address, e.g. 127.0.0.1:9091 (env WICKET_METRICS)", valueHint: "host:port" },
  "grace-period": { type: "string", description: "on SIGTERM, how long client sessions may continue after connectors are told to move (default 30s)", valueHint: "duration" },
  "keepalive-interval": { type: "string", description: `how often to ping connectors and clients (default ${DEFAULT_KEEPALIVE.intervalMs / 1000}s)`, valueHint: "duration" },
  "keepalive-timeout": { type: "string", description: `drop a connector or client silent this long (default ${DEFAULT_KEEPALIVE.timeoutMs / 1000}s)`, valueHint: "duration" },
  dev: { type: "boolean", description: "development mode: with no SMTP configured, sign-in PINs are written to the log" },
  "downloads-dir": { type: "string", description: "serve /install.sh and the builds in this folder, the output of `bun run build --all` (env WICKET_DOWNLOADS_DIR)", valueHint: "dir" },
  "trusted-proxies": { type: "string", description: "proxies whose X-Forwarded-For gives the client's address, comma-separated IPs or CIDR ranges (env WICKET_TRUSTED_PROXIES); nobody else's is believed", valueHint: "cidr,..." },
  "audit-retention": { type: "string", description: "how long audit records are kept, e.g. 90d (the default); 0 keeps them forever (env WICKET_AUDIT_RETENTION)", valueHint: "duration" },
  "zone-credential-lifetime": { type: "string", description: "how long a zone credential from `tunnel login` or `edge tunnel-cert` lasts, e.g. 90d (default 365d) (env WICKET_ZONE_CREDENTIAL_LIFETIME)", valueHint: "duration" },
  "audit-fail-open": { type: "boolean", description: "let allowed clients in even when the audit cannot be written (default: refuse them) (env WICKET_AUDIT_FAIL_OPEN=1)", default: false },
  ...logArgs,
} as const satisfies ArgsDef;

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
    if (!cert && t !== "self-signed" && t !== "off") throw usageError(`${where} "${t}" is not a mode; use self-signed or off, or give --tls-cert and --tls-key`);
    return t;
  });
  const tls: EdgeOptions["tls"] = cert ? { mode: "files", cert, key: key! } : mode === "off" ? { mode: "off" } : { mode: "self-signed" };
  const keepaliveMs = keepalive(DEFAULT_KEEPALIVE);
  const gracePeriodMs = duration("grace-period", 30_000);
  const dev = bool("dev");
  const downloadsDir = text("downloads-dir");
  return {
    edge: {
      listen: text("listen") ?? "127.0.0.1:8443",
      publicUrl: text("public-url"),
      dataDir: text("data-dir") ?? defaultEdgeDataDir(),
      database: text("database"),
      tls,
      keepalive: keepaliveMs,
      metrics: text("metrics"),
      identity: identitySettings(file, dev),
      downloadsDir: downloadsDir && resolve(downloadsDir),
      // a list from the file arrives joined by commas, like the flag
      trustedProxies: get("trusted-proxies", (t) => t.split(",")),
      // "0" is a duration of 0: keep them forever
      auditRetentionMs: duration("audit-retention", DEFAULT_AUDIT_RETENTION_MS),
      auditFailOpen: bool("audit-fail-open"),
      zoneCredentialLifetimeMs: duration("zone-credential-lifetime", DEFAULT_ZONE_CREDENTIAL_LIFETIME_MS),
    },
    gracePeriodMs,
  };
}

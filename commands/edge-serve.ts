import { defineCommand } from "citty";
import { fromEnv, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { DEFAULT_KEEPALIVE } from "../lib/wire/mux.ts";
import { log } from "../lib/cli/log.ts";
import { startEdge, type EdgeOptions } from "../lib/edge/server.ts";
import { identitySettings, loadEdgeConfig, type EdgeFileConfig } from "../lib/edge/config.ts";
import { join, resolve } from "node:path";
import { wicketHome } from "../lib/paths.ts";
import { parseDuration } from "../lib/cli/values.ts";

const cmd = defineCommand({
  meta: { name: "serve", description: "Run the edge: HTTPS listener, sign-in, admin API, connector endpoint", version },
  args: {
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
    "audit-fail-open": { type: "boolean", description: "let allowed clients in even when the audit cannot be written (default: refuse them) (env WICKET_AUDIT_FAIL_OPEN=1)", default: false },
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const configFile = fromEnv(args.config, "config");
    const file: EdgeFileConfig = configFile ? loadEdgeConfig(configFile) : {};
    // A flag (or its WICKET_ variable) wins over the file, the file over the default.
    const pick = (flag: keyof EdgeFileConfig & string) => fromEnv(args[flag as keyof typeof args], flag) ?? (file[flag] as string | undefined);
    const cert = pick("tls-cert");
    const key = pick("tls-key");
    if (Boolean(cert) !== Boolean(key)) throw usageError("--tls-cert and --tls-key go together");
    const mode = pick("tls") ?? "self-signed";
    if (!cert && mode !== "self-signed" && mode !== "off") throw usageError(`--tls "${mode}" is not a mode; use self-signed or off, or give --tls-cert and --tls-key`);
    const tls: EdgeOptions["tls"] = cert ? { mode: "files", cert, key: key! } : mode === "off" ? { mode: "off" } : { mode: "self-signed" };
    // a flag or its variable, else the file (already in ms), else the default
    const duration = (flag: "grace-period" | "keepalive-interval" | "keepalive-timeout", fallback: number) => {
      const raw = fromEnv(args[flag], flag);
      return raw !== undefined ? parseDuration(raw, flag) : (file[flag] ?? fallback);
    };
    const keepalive = { intervalMs: duration("keepalive-interval", DEFAULT_KEEPALIVE.intervalMs), timeoutMs: duration("keepalive-timeout", DEFAULT_KEEPALIVE.timeoutMs) };
    if (keepalive.intervalMs <= 0 || keepalive.timeoutMs <= keepalive.intervalMs) throw usageError("--keepalive-timeout must be longer than --keepalive-interval, and the interval above zero");
    const graceMs = duration("grace-period", 30_000);
    const dev = args.dev === true || process.env.WICKET_DEV === "1" || (args.dev === undefined && file.dev === true);
    const downloadsDir = pick("downloads-dir");
    const retention = pick("audit-retention") ?? "90d";
    const failOpen = args["audit-fail-open"] === true || ["1", "true"].includes(process.env.WICKET_AUDIT_FAIL_OPEN ?? "") || file["audit-fail-open"] === true;
    const signal = shutdownSignal();
    const edge = await startEdge({
      listen: pick("listen") ?? "127.0.0.1:8443",
      publicUrl: pick("public-url"),
      dataDir: pick("data-dir") ?? join(wicketHome(), "edge"),
      database: pick("database"),
      tls,
      keepalive,
      metrics: pick("metrics"),
      version,
      identity: identitySettings(file, dev),
      downloadsDir: downloadsDir && resolve(downloadsDir),
      trustedProxies: fromEnv(args["trusted-proxies"], "trusted-proxies")?.split(",") ?? file["trusted-proxies"],
      auditRetentionMs: String(retention).trim() === "0" ? 0 : parseDuration(String(retention), "audit-retention"),
      auditFailOpen: failOpen,
    });
    await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    log.info("edge shutting down");
    await edge.stop(graceMs);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

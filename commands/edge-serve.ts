import { defineCommand } from "citty";
import { fromEnv, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { parseDuration } from "../lib/cli/values.ts";
import { DEFAULT_KEEPALIVE } from "../lib/wire/mux.ts";
import { log } from "../lib/cli/log.ts";
import { startEdge, type EdgeOptions } from "../lib/edge/server.ts";
import { join, resolve } from "node:path";
import { wicketHome } from "../lib/paths.ts";

const cmd = defineCommand({
  meta: { name: "serve", description: "Run the edge: HTTPS listener, admin API, connector endpoint", version },
  args: {
    listen: { type: "string", description: "address to listen on (env WICKET_LISTEN)", default: "127.0.0.1:8443", valueHint: "host:port" },
    "public-url": { type: "string", description: "URL clients and connectors use to reach this edge", valueHint: "url" },
    "data-dir": { type: "string", description: "where the store, CA and admin token live (default ~/.wicket/edge)", valueHint: "dir" },
    database: { type: "string", description: "database URL (default: SQLite in the data directory)", valueHint: "url" },
    tls: { type: "string", description: "self-signed | off (plain HTTP behind a TLS-terminating proxy); ignored with --tls-cert", default: "self-signed", valueHint: "mode" },
    "tls-cert": { type: "string", description: "certificate chain PEM (a wildcard per zone)", valueHint: "file" },
    "tls-key": { type: "string", description: "private key PEM", valueHint: "file" },
    metrics: { type: "string", description: "serve /metrics, /ready and /healthz on this separate address, e.g. 127.0.0.1:9091 (env WICKET_METRICS)", valueHint: "host:port" },
    "grace-period": { type: "string", description: "on SIGTERM, how long client sessions may continue after connectors are told to move (default 30s)", valueHint: "duration" },
    "keepalive-interval": { type: "string", description: `how often to ping connectors and clients (default ${DEFAULT_KEEPALIVE.intervalMs / 1000}s)`, valueHint: "duration" },
    "keepalive-timeout": { type: "string", description: `drop a connector or client silent this long (default ${DEFAULT_KEEPALIVE.timeoutMs / 1000}s)`, valueHint: "duration" },
    "downloads-dir": { type: "string", description: "serve /install.sh and the builds in this folder, the output of `bun run build --all` (env WICKET_DOWNLOADS_DIR)", valueHint: "dir" },
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const cert = fromEnv(args["tls-cert"], "tls-cert");
    const key = fromEnv(args["tls-key"], "tls-key");
    if (Boolean(cert) !== Boolean(key)) throw usageError("--tls-cert and --tls-key go together");
    const mode = fromEnv(args.tls, "tls") ?? "self-signed";
    if (!cert && mode !== "self-signed" && mode !== "off") throw usageError(`--tls "${mode}" is not a mode; use self-signed or off, or give --tls-cert and --tls-key`);
    const tls: EdgeOptions["tls"] = cert ? { mode: "files", cert, key: key! } : mode === "off" ? { mode: "off" } : { mode: "self-signed" };
    const duration = (flag: string, fallback: number) => {
      const raw = fromEnv(args[flag], flag);
      return raw === undefined ? fallback : parseDuration(raw, flag);
    };
    const keepalive = { intervalMs: duration("keepalive-interval", DEFAULT_KEEPALIVE.intervalMs), timeoutMs: duration("keepalive-timeout", DEFAULT_KEEPALIVE.timeoutMs) };
    if (keepalive.intervalMs <= 0 || keepalive.timeoutMs <= keepalive.intervalMs) throw usageError("--keepalive-timeout must be longer than --keepalive-interval, and the interval above zero");
    const graceMs = duration("grace-period", 30_000);
    const downloadsDir = fromEnv(args["downloads-dir"], "downloads-dir");
    const signal = shutdownSignal();
    const edge = await startEdge({
      listen: fromEnv(args.listen, "listen") ?? "127.0.0.1:8443",
      publicUrl: fromEnv(args["public-url"], "public-url"),
      dataDir: fromEnv(args["data-dir"], "data-dir") ?? join(wicketHome(), "edge"),
      database: fromEnv(args.database, "database"),
      tls,
      keepalive,
      metrics: fromEnv(args.metrics, "metrics"),
      version,
      downloadsDir: downloadsDir && resolve(downloadsDir),
    });
    await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    log.info("edge shutting down");
    await edge.stop(graceMs);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

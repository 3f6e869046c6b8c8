import { defineCommand } from "citty";
import { fromEnv, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { log } from "../lib/cli/log.ts";
import { startEdge, type EdgeOptions } from "../lib/edge/server.ts";
import { join, resolve } from "node:path";
import { wicketHome } from "../lib/paths.ts";
import { parseDuration } from "../lib/cli/values.ts";

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
    "downloads-dir": { type: "string", description: "serve /install.sh and the builds in this folder, the output of `bun run build --all` (env WICKET_DOWNLOADS_DIR)", valueHint: "dir" },
    "trusted-proxies": { type: "string", description: "proxies whose X-Forwarded-For gives the client's address, comma-separated IPs or CIDR ranges (env WICKET_TRUSTED_PROXIES); nobody else's is believed", valueHint: "cidr,..." },
    "audit-retention": { type: "string", description: "how long audit records are kept, e.g. 90d (the default); 0 keeps them forever (env WICKET_AUDIT_RETENTION)", valueHint: "duration" },
    "audit-fail-open": { type: "boolean", description: "let allowed clients in even when the audit cannot be written (default: refuse them) (env WICKET_AUDIT_FAIL_OPEN=1)", default: false },
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
    const downloadsDir = fromEnv(args["downloads-dir"], "downloads-dir");
    const retention = fromEnv(args["audit-retention"], "audit-retention") ?? "90d";
    const failOpenEnv = process.env.WICKET_AUDIT_FAIL_OPEN;
    const signal = shutdownSignal();
    const edge = await startEdge({
      listen: fromEnv(args.listen, "listen") ?? "127.0.0.1:8443",
      publicUrl: fromEnv(args["public-url"], "public-url"),
      dataDir: fromEnv(args["data-dir"], "data-dir") ?? join(wicketHome(), "edge"),
      database: fromEnv(args.database, "database"),
      tls,
      downloadsDir: downloadsDir && resolve(downloadsDir),
      trustedProxies: fromEnv(args["trusted-proxies"], "trusted-proxies")?.split(","),
      auditRetentionMs: retention.trim() === "0" ? 0 : parseDuration(retention, "audit-retention"),
      auditFailOpen: args["audit-fail-open"] === true || failOpenEnv === "1" || failOpenEnv === "true",
    });
    await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    log.info("edge shutting down");
    await edge.stop();
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

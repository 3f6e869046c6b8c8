import { defineCommand } from "citty";
import { configError, deniedError, usageError } from "../lib/cli/exit.ts";
import { fromEnv } from "../lib/cli/args.ts";
import { log, setLogFile, setupLog } from "../lib/cli/log.ts";
import { runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { readCaFile } from "../lib/cli/values.ts";
import { createRegistry, processMetrics } from "../lib/metrics/registry.ts";
import { serveMetrics, type Readiness } from "../lib/metrics/server.ts";
import { startTunnel } from "../lib/tunnel/run.ts";
import { createTunnelMetrics } from "../lib/tunnel/metrics.ts";
import { namedTunnelArgs, resolveSettings, tunnelArgs } from "../lib/tunnel/settings.ts";
import { connectorCredential } from "../lib/tunnel/named.ts";
import named from "./tunnel-named.ts";
import login from "./tunnel-login.ts";
import service from "./tunnel-service.ts";
import doctor from "./tunnel-doctor.ts";

/** Serves the ingress rules with `credential` (a zone credential, or a named tunnel's id and secret) until a drain ends it. */
async function serve(args: Record<string, unknown>, rawArgs: string[], named: { token?: string; name?: string } = {}) {
  // plain defaults until the settings (which check these values too) are read
  setupLog("info", process.env.WICKET_LOG_FORMAT === "json" ? "json" : "text");
  const s = await resolveSettings(args, rawArgs);
  setupLog(s.loglevel, s.logFormat);
  if (s.logfile) {
    try {
      setLogFile(s.logfile);
    } catch (err) {
      throw configError(`cannot open the log file ${s.logfile}: ${(err as Error).message}`);
    }
  }
  const cred = await connectorCredential({ ...named, origincert: s.origincert });
  s.ingress.forEach(({ hostname }, i) => {
    if (hostname !== cred.zone && !hostname.endsWith(`.${cred.zone}`)) {
      throw deniedError(`${s.ingressWhere[i]} ${hostname} is outside the zone ${cred.zone} of ${cred.source}; use a name under ${cred.zone}`);
    }
  });
  const edges = s.edges ?? [cred.edge];
  const ca = (await readCaFile(s.caFile)) ?? cred.caPem;

  const registry = createRegistry();
  processMetrics(registry, version);
  const metrics = createTunnelMetrics(registry);
  const signal = shutdownSignal();
  const routes = s.ingress.map((i) => `${i.hostname} -> ${i.origin.url}`).join(", ");
  log.info(`wicket ${version}: serving ${routes}${s.catchAll ? `, anything else -> ${s.catchAll.url}` : ""} through ${edges.join(", ")}${cred.tunnel ? ` as tunnel ${cred.tunnel}` : ""}${s.configFile ? ` (config ${s.configFile})` : ""}`);
  // the listener first: a taken port is a configuration error before anything connects
  let status: () => Readiness = () => ({ ready: false, status: "starting", connections: 0 });
  const admin = s.metrics ? serveMetrics(s.metrics, registry, () => status()) : undefined;
  const tunnel = startTunnel({
    edges,
    ca,
    credential: cred,
    ingress: s.ingress,
    catchAll: s.catchAll,
    haConnections: s.haConnections,
    gracePeriodMs: s.gracePeriodMs,
    retries: s.retries,
    keepalive: s.keepalive,
    signal,
    metrics,
  });
  status = tunnel.status;
  try {
    await tunnel.done;
  } finally {
    admin?.stop();
  }
  log.info("tunnel stopped");
}

const run = defineCommand({
  meta: { name: "run", description: "run a named tunnel: with its credentials from `tunnel create` (by NAME) or a --token from `tunnel token`" },
  args: {
    ...namedTunnelArgs,
    ...tunnelArgs,
  },
  async run({ args, rawArgs }) {
    const token = fromEnv(args.token, "tunnel-token", "TUNNEL_TOKEN");
    if (!token && !args.name) throw usageError("which tunnel? pass its NAME (wicket tunnel run NAME) or --token from `wicket tunnel token NAME`");
    await serve(args, rawArgs, { token, name: args.name ? String(args.name) : undefined });
  },
});

const subCommands = { login, service, run, doctor, ...named };

const cmd = defineCommand({
  meta: { name: "tunnel", description: "Connect this machine's SSH (or any TCP) server to the edge, with no inbound port", version },
  args: tunnelArgs,
  subCommands,
  async run({ args, rawArgs }) {
    // citty runs this after a subcommand too: `wicket tunnel login|service|run|…` is done by then.
    if (args._?.[0] && args._[0] in subCommands) return;
    await serve(args, rawArgs);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

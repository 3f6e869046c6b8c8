// What `wicket tunnel` runs with: its flags, and how lib/cli/settings.ts reads them (flag,
// WICKET_<FLAG>, the --config file's key, the default) into checked settings.
import { resolve } from "node:path";
import type { ArgsDef } from "citty";
import { edgeArg, edgeArgs, logArgs, type Env } from "../cli/args.ts";
import { usageError } from "../cli/exit.ts";
import { LOG_LEVELS } from "../cli/log.ts";
import { settingsFrom } from "../cli/settings.ts";
import { parseHostPort } from "../cli/values.ts";
import { originCertPath } from "../paths.ts";
import { DEFAULT_KEEPALIVE } from "../wire/mux.ts";
import { loadTunnelFile, type TunnelFile } from "./config.ts";
import { parseIngressHostname, type Ingress } from "./ingress.ts";
import { parseOrigin, type Origin } from "./origin.ts";

/** Full-jitter backoff between attempts of one connection: a random delay in
 * [0, min(cap, base * 2^attempt)], attempt counting failures since it was last up. */
export const BACKOFF = { baseMs: 500, capMs: 30_000 } as const;

export const tunnelArgs = {
  config: { type: "string", description: "YAML file whose keys are these flags' names, plus an `ingress` list (env WICKET_CONFIG)", valueHint: "file" },
  hostname: { type: "string", description: "hostname to serve, e.g. ssh.example.com (must lie in the credential's zone)", valueHint: "host" },
  url: { type: "string", description: "origin to send streams to: ssh://host:port or tcp://host:port (default ssh://localhost:22)", valueHint: "url" },
  origincert: { type: "string", description: "zone credential file (env WICKET_ORIGINCERT or TUNNEL_ORIGIN_CERT; default ~/.wicket/cert.pem)", valueHint: "file" },
  ...edgeArgs,
  edge: { type: "string", description: "URL of the edge (default: the one in the credential); repeat it or separate URLs with commas to spread connections over several", valueHint: "url" },
  "ha-connections": { type: "string", description: "connections to keep open to the edge (default 4)", valueHint: "n" },
  "grace-period": { type: "string", description: "on SIGTERM, how long live sessions may continue (default 30s)", valueHint: "duration" },
  retries: { type: "string", description: "give up and exit 69 after this many failed attempts in a row on one connection (default: never)", valueHint: "n" },
  "keepalive-interval": { type: "string", description: `how often to ping the edge (default ${DEFAULT_KEEPALIVE.intervalMs / 1000}s)`, valueHint: "duration" },
  "keepalive-timeout": { type: "string", description: `drop and replace a connection that has been silent this long (default ${DEFAULT_KEEPALIVE.timeoutMs / 1000}s)`, valueHint: "duration" },
  metrics: { type: "string", description: "serve /metrics, /ready and /healthz over HTTP on this address, e.g. 127.0.0.1:9090", valueHint: "host:port" },
  logfile: { type: "string", description: "also append log lines to this file", valueHint: "file" },
  ...logArgs,
  // no defaults here: an absent flag must leave room for the environment and the file
  loglevel: { ...logArgs.loglevel, default: undefined, description: "silent | error | warn | info | debug (default info)" },
  "log-format": { ...logArgs["log-format"], default: undefined, description: "text | json (default text)" },
} as const satisfies ArgsDef;

/** Which named tunnel (`tunnel run`, `tunnel doctor`): by name with its credentials on this machine, or by token. */
export const namedTunnelArgs = {
  name: { type: "positional", description: "the tunnel's name or id (credentials in ~/.wicket/<id>.json)", required: false },
  token: { type: "string", description: "the tunnel's token from `wicket tunnel token NAME` (env WICKET_TUNNEL_TOKEN or TUNNEL_TOKEN)", valueHint: "token" },
} as const satisfies ArgsDef;

export type TunnelFlag = keyof typeof tunnelArgs;
export const TUNNEL_KEYS = Object.keys(tunnelArgs) as TunnelFlag[];

export interface TunnelSettings {
  configFile?: string;
  /** Undefined: the edge named in the zone credential. */
  edges?: string[];
  origincert: string;
  caFile?: string;
  ingress: Ingress[];
  catchAll?: Origin;
  /** Where each ingress hostname came from, for errors found later (the zone check). */
  ingressWhere: string[];
  haConnections: number;
  gracePeriodMs: number;
  retries: number;
  keepalive: { intervalMs: number; timeoutMs: number };
  metrics?: string;
  logfile?: string;
  loglevel: string;
  logFormat: string;
}

/** cloudflared's name for the credential's variable, still honoured. */
export const ENV_ALIASES: Partial<Record<TunnelFlag, string[]>> = { origincert: ["TUNNEL_ORIGIN_CERT"] };

export async function resolveSettings(args: Record<string, unknown>, rawArgs: string[], env: Env = process.env): Promise<TunnelSettings> {
  const sources = { args, rawArgs, env, aliases: ENV_ALIASES, repeatable: ["edge"] };
  const configText = settingsFrom(sources).text("config");
  const configFile = configText ? resolve(configText) : undefined;
  const file: TunnelFile | undefined = configFile ? await loadTunnelFile(configFile, TUNNEL_KEYS) : undefined;
  const { raw, blame, parse, get, text, duration, count, oneOf, keepalive } = settingsFrom({ ...sources, file: (key) => file?.values.get(key) });

  // what to serve: --hostname/--url, or the file's ingress list
  const hostRaw = raw("hostname");
  const urlRaw = raw("url");
  let ingress: Ingress[];
  let catchAll: Origin | undefined;
  let ingressWhere: string[];
  if (file?.ingress && (hostRaw || urlRaw)) {
    const other = (hostRaw ?? urlRaw)!;
    throw blame(other)(`${other.where} and the ingress list (${file.ingress.where.replace(/:$/, "")}) both say what to serve; use one of them`);
  }
  if (file?.ingress) {
    ingress = file.ingress.rules;
    catchAll = file.ingress.catchAll;
    ingressWhere = file.ingress.wheres;
  } else {
    if (!hostRaw) {
      if (urlRaw) throw blame(urlRaw)(`${urlRaw.where} needs a hostname to serve: add --hostname, or use an ingress list in --config`);
      throw usageError("--hostname is required, for example --hostname ssh.example.com (or an ingress list in a --config file)");
    }
    const hostname = parse(hostRaw, (t, where) => {
      try {
        return parseIngressHostname(t);
      } catch (err) {
        throw usageError(`${where} ${(err as Error).message}`);
      }
    });
    const origin = urlRaw ? parse(urlRaw, (t, where) => parseOrigin(t, where)) : parseOrigin("ssh://localhost:22");
    ingress = [{ hostname, origin }];
    ingressWhere = [hostRaw.where];
  }

  const edges = get("edge", (t, where) => {
    const list = t.split(",").map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) throw usageError(`${where} is empty; give the edge's URL, for example https://edge.example.com`);
    for (const u of list) {
      if (!URL.parse(u)) throw usageError(`${where} "${u}" is not an edge URL; use for example https://edge.example.com`);
      edgeArg(u); // https, or http on this machine only: the tunnel's secret goes to it
    }
    return list;
  });
  const keepaliveMs = keepalive(DEFAULT_KEEPALIVE);
  const metrics = get("metrics", (t, where) => (parseHostPort(t, where), t));
  const retriesRaw = raw("retries");

  return {
    configFile,
    edges,
    origincert: text("origincert") ?? originCertPath(),
    caFile: text("ca-file"),
    ingress,
    catchAll,
    ingressWhere,
    haConnections: count("ha-connections", 4, 1),
    gracePeriodMs: duration("grace-period", 30_000),
    retries: retriesRaw ? count("retries", 0, 0) : Infinity,
    keepalive: keepaliveMs,
    metrics,
    logfile: text("logfile"),
    loglevel: oneOf("loglevel", LOG_LEVELS, "info"),
    logFormat: oneOf("log-format", ["text", "json"], "text"),
  };
}

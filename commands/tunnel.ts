import { defineCommand } from "citty";
import { edgeArgs, fromEnv, logArgs } from "../lib/cli/args.ts";
import { configError, deniedError, usageError } from "../lib/cli/exit.ts";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { parseCount, parseDuration, readCaFile } from "../lib/cli/values.ts";
import { originCertPath } from "../lib/paths.ts";
import { parseZoneCredential } from "../lib/auth/zone-credential.ts";
import { parseOrigin } from "../lib/tunnel/origin.ts";
import { runTunnel } from "../lib/tunnel/connector.ts";
import { log } from "../lib/cli/log.ts";
import login from "./tunnel-login.ts";

const subCommands = { login };

const cmd = defineCommand({
  meta: { name: "tunnel", description: "Connect this machine's SSH (or any TCP) server to the edge, with no inbound port", version },
  args: {
    hostname: { type: "string", description: "hostname to serve, e.g. ssh.example.com (must lie in the credential's zone)", valueHint: "host" },
    url: { type: "string", description: "origin to send streams to: ssh://localhost:22 or tcp://host:port", default: "ssh://localhost:22", valueHint: "url" },
    origincert: { type: "string", description: "zone credential file (env WICKET_ORIGINCERT; default ~/.wicket/cert.pem)", valueHint: "file" },
    "ha-connections": { type: "string", description: "connections to keep open to the edge", default: "4", valueHint: "n" },
    "grace-period": { type: "string", description: "on SIGTERM, how long live sessions may continue", default: "30s", valueHint: "duration" },
    retries: { type: "string", description: "give up after this many failed attempts in a row (default: never)", valueHint: "n" },
    ...edgeArgs,
    ...logArgs,
  },
  subCommands,
  async run({ args }) {
    // citty runs this after a subcommand too: `wicket tunnel login` is done by then.
    if (args._?.[0] && args._[0] in subCommands) return;
    init(args);
    const hostname = fromEnv(args.hostname, "hostname")?.toLowerCase();
    if (!hostname) throw usageError("--hostname is required, for example --hostname ssh.example.com");
    const origin = parseOrigin(fromEnv(args.url, "url") ?? "ssh://localhost:22");
    const certPath = fromEnv(args.origincert, "origincert", "TUNNEL_ORIGIN_CERT") ?? originCertPath();
    const text = await Bun.file(certPath).text().catch(() => {
      throw configError(`cannot read the zone credential ${certPath}; run \`wicket tunnel login\` or pass --origincert`);
    });
    const cred = parseZoneCredential(text);
    if (hostname !== cred.zone && !hostname.endsWith(`.${cred.zone}`)) throw deniedError(`hostname ${hostname} is outside the zone ${cred.zone} of ${certPath}; use a name under ${cred.zone}`);
    const edge = fromEnv(args.edge, "edge") ?? cred.edge;
    const ca = (await readCaFile(fromEnv(args["ca-file"], "ca-file"))) ?? cred.caPem;
    const retries = fromEnv(args.retries, "retries");
    log.info(`wicket ${version}: serving ${hostname} -> ${origin.url} through ${edge}`);
    await runTunnel({
      edge,
      ca,
      credential: cred,
      ingress: [{ hostname, origin }],
      haConnections: parseCount(fromEnv(args["ha-connections"], "ha-connections"), "ha-connections", 4, 1),
      gracePeriodMs: parseDuration(fromEnv(args["grace-period"], "grace-period") ?? "30s", "grace-period"),
      retries: retries === undefined ? Infinity : parseCount(retries, "retries", 0),
      signal: shutdownSignal(),
    });
    log.info("tunnel stopped");
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);

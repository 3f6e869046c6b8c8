// wicket tunnel create|route|list|delete|token: named tunnels, cloudflared's model. The zone
// credential (cert.pem from `tunnel login`) authorises each call; `create` keeps the tunnel's
// own credentials in ~/.wicket/<id>.json, which `tunnel run NAME` then uses.
import { defineCommand } from "citty";
import { deleteZoneTunnel, getZoneTunnels, postZoneTunnel, postZoneTunnelSecret, putZoneRoute } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTunnels } from "../lib/admin-client/output.ts";
import { edgeOf, fromEnv, hostnameArg, logArgs } from "../lib/cli/args.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { originCertPath } from "../lib/paths.ts";
import { encodeTunnelToken, findTunnelCredentials, saveTunnelCredentials, zoneConnection } from "../lib/tunnel/named.ts";
import { ENV_ALIASES } from "../lib/tunnel/settings.ts";

/** Where the zone credential is, and the edge it talks to. */
const credentialArgs = {
  ...logArgs,
  origincert: { type: "string", description: "zone credential file (env WICKET_ORIGINCERT or TUNNEL_ORIGIN_CERT; default ~/.wicket/cert.pem)", valueHint: "file" },
  edge: { type: "string", description: "URL of the edge (default: the one in the credential)", valueHint: "url" },
  "ca-file": { type: "string", description: "extra CA certificate to trust (env WICKET_CA_FILE)", valueHint: "file" },
} as const;
const zoneArgs = { ...credentialArgs, json: { type: "boolean", description: "print JSON", default: false } } as const;

async function connect(args: { origincert?: unknown; edge?: unknown; "ca-file"?: unknown }) {
  const cert = fromEnv(args.origincert, "origincert", ...ENV_ALIASES.origincert!) ?? originCertPath();
  const { edge, ca } = await edgeOf(args);
  return zoneConnection(cert, { edge, ca });
}

const create = defineCommand({
  meta: { name: "create", description: "create a named tunnel and save its credentials in ~/.wicket/<id>.json" },
  args: { ...zoneArgs, name: { type: "positional", description: "the tunnel's name, unique in its zone", required: true } },
  async run({ args }) {
    init(args);
    const conn = await connect(args);
    const { tunnel, secret, edge, caPem } = await postZoneTunnel(conn, args.name);
    const path = saveTunnelCredentials({ edge, zone: tunnel.zone, id: tunnel.id, name: tunnel.name, secret, ...(caPem ? { caPem } : {}) });
    if (args.json) return printJson({ ...tunnel, credentialsFile: path });
    printLine(`created tunnel ${tunnel.name} with id ${tunnel.id}; credentials written to ${path}`);
    if (tunnel.secretExpiresAt) log.info(`its secret ends with this zone credential, on ${new Date(tunnel.secretExpiresAt).toISOString()}; then: wicket tunnel login and wicket tunnel token --rotate ${tunnel.name}`);
    log.info(`next: wicket tunnel route ${tunnel.name} <hostname in ${tunnel.zone}>, then wicket tunnel run ${tunnel.name} --hostname <hostname> --url ssh://localhost:22`);
  },
});

const route = defineCommand({
  meta: { name: "route", description: "route a hostname to a tunnel (refused when another tunnel has it, unless --overwrite)" },
  args: {
    ...zoneArgs,
    name: { type: "positional", description: "the tunnel's name or id", required: true },
    hostname: { type: "positional", description: "the hostname, e.g. ssh.example.com", required: true },
    overwrite: { type: "boolean", description: "take the hostname from the tunnel that has it (audited; its connectors stop serving it)", default: false },
  },
  async run({ args }) {
    init(args);
    const r = await putZoneRoute(await connect(args), hostnameArg(args.hostname), args.name, args.overwrite);
    if (args.json) return printJson(r);
    printLine(r.replaced ? `${r.hostname} now goes to tunnel ${r.tunnel.name}, taken from tunnel ${r.replaced.name}` : `${r.hostname} goes to tunnel ${r.tunnel.name}`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "the zone's tunnels, their routes and connections" },
  args: zoneArgs,
  async run({ args }) {
    init(args);
    const tunnels = await getZoneTunnels(await connect(args));
    if (args.json) return printJson(tunnels);
    printTunnels(tunnels);
  },
});

const del = defineCommand({
  meta: { name: "delete", description: "delete a tunnel: its credentials stop working and its live connections are cut" },
  args: { ...zoneArgs, name: { type: "positional", description: "the tunnel's name or id", required: true } },
  async run({ args }) {
    init(args);
    const t = await deleteZoneTunnel(await connect(args), args.name);
    args.json ? printJson(t) : printLine(`deleted tunnel ${t.name} (${t.id})${t.routes.length ? `; ${t.routes.join(", ")} now route to no tunnel` : ""}`);
  },
});

const token = defineCommand({
  meta: { name: "token", description: "print the token that runs a tunnel elsewhere: wicket tunnel run --token <token> (--rotate: a new secret first)" },
  args: {
    ...credentialArgs,
    name: { type: "positional", description: "the tunnel's name or id (its credentials must be on this machine, unless --rotate)", required: true },
    rotate: { type: "boolean", description: "give the tunnel a new secret with the zone credential: the old one is refused and connectors on it are cut", default: false },
  },
  async run({ args }) {
    init(args);
    if (!args.rotate) return printLine(encodeTunnelToken(findTunnelCredentials(args.name)));
    const { tunnel, secret, edge, caPem } = await postZoneTunnelSecret(await connect(args), args.name);
    const creds = { edge, zone: tunnel.zone, id: tunnel.id, name: tunnel.name, secret, ...(caPem ? { caPem } : {}) };
    const path = saveTunnelCredentials(creds, { replace: true });
    printLine(encodeTunnelToken(creds));
    log.info(`rotated the secret of tunnel ${tunnel.name}; new credentials written to ${path}; connectors on the old secret are cut, so restart them with this token`);
  },
});

export default { create, route, list, delete: del, token };

if (import.meta.main) runCommand(defineCommand({ meta: { name: "tunnel", description: "named tunnels" }, subCommands: { create, route, list, delete: del, token } }));

// Named tunnels on the connector's side (cloudflared's model): `tunnel create` asks the edge,
// with the zone credential, for a tunnel and keeps its credentials in ~/.wicket/<id>.json
// (0600); `tunnel token` turns that file into one string for `tunnel run --token`; `tunnel
// route|list|delete` manage the zone's tunnels. A connector runs as the tunnel with its id
// and secret, so no other tunnel can take its hostnames.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseZoneCredential } from "../auth/zone-credential.ts";
import type { AdminConnection } from "../admin-client/client.ts";
import { configError, usageError } from "../cli/exit.ts";
import { unreadable } from "../cli/values.ts";
import { tunnelCredentialsPath, wicketHome, writePrivate } from "../paths.ts";
import { TUNNEL_ID_PREFIX } from "../auth/secret.ts";

/** What ~/.wicket/<id>.json holds, and what a token encodes. */
export type TunnelCredentials = { edge: string; zone: string; id: string; name: string; secret: string; caPem?: string };

/** A connection to the edge authenticated by the zone credential in `certFile`. */
export function zoneConnection(certFile: string, opts: { edge?: string; ca?: string } = {}): AdminConnection {
  let text: string;
  try {
    text = readFileSync(certFile, "utf8");
  } catch {
    throw configError(`cannot read the zone credential ${certFile}; run \`wicket tunnel login\` or pass --origincert`);
  }
  const cred = parseZoneCredential(text, certFile);
  const ca = opts.ca ?? cred.caPem;
  return { baseUrl: (opts.edge ?? cred.edge).replace(/\/+$/, ""), token: `${cred.id}.${cred.secret}`, credential: "zone", ...(ca ? { ca } : {}) };
}

/** Writes the credentials file of a new tunnel (0600), or with `replace` a rotated one's; returns its path. */
export function saveTunnelCredentials(c: TunnelCredentials, { replace = false } = {}): string {
  const path = tunnelCredentialsPath(c.id);
  writePrivate(path, JSON.stringify(c, null, 2) + "\n", { exclusive: !replace });
  return path;
}

function checked(v: unknown, where: string): TunnelCredentials {
  const j = v as Record<string, unknown>;
  for (const k of ["edge", "zone", "id", "name", "secret"] as const) {
    if (typeof j?.[k] !== "string" || !j[k]) throw configError(`${where} is not a wicket tunnel's credentials ("${k}" is missing); get them again with \`wicket tunnel token NAME\` on the machine that created the tunnel`);
  }
  if (!(j.id as string).startsWith(TUNNEL_ID_PREFIX)) throw configError(`${where} is not a wicket tunnel's credentials (its id does not start with ${TUNNEL_ID_PREFIX})`);
  return { edge: j.edge as string, zone: j.zone as string, id: j.id as string, name: j.name as string, secret: j.secret as string, ...(typeof j.caPem === "string" ? { caPem: j.caPem } : {}) };
}

/** One string for `tunnel run --token` (containers, CI): the credentials as base64url JSON. */
export const encodeTunnelToken = (c: TunnelCredentials) => Buffer.from(JSON.stringify(c)).toString("base64url");

export function decodeTunnelToken(token: string): TunnelCredentials {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token.trim(), "base64url").toString("utf8"));
  } catch {
    throw usageError("the tunnel token does not decode; copy the whole string `wicket tunnel token NAME` printed");
  }
  return checked(v, "the tunnel token");
}

/** The credentials of tunnel `ref` (a name or an id) kept on this machine. */
export function findTunnelCredentials(ref: string): TunnelCredentials {
  let files: string[] = [];
  try {
    files = readdirSync(wicketHome()).filter((f) => f.startsWith(TUNNEL_ID_PREFIX) && f.endsWith(".json"));
  } catch {}
  for (const f of files) {
    const where = join(wicketHome(), f);
    let c: TunnelCredentials;
    try {
      c = checked(JSON.parse(readFileSync(where, "utf8")), where);
    } catch {
      continue;
    }
    if (c.id === ref || c.name === ref) return c;
  }
  throw configError(`no credentials for the tunnel "${ref}" in ${wicketHome()}; create it with \`wicket tunnel create ${ref}\`, or pass --token from \`wicket tunnel token ${ref}\``);
}

/** What a connector presents to the edge (`Bearer <id>.<secret>`), and where it came from. */
export type ConnectorCredential = { id: string; secret: string; zone: string; edge: string; caPem?: string; source: string; tunnel?: string };

/**
 * The credential `tunnel` runs with: a named tunnel's (its token, or its name or id with
 * credentials in ~/.wicket), else the zone credential file (the seed's form).
 */
export async function connectorCredential(o: { token?: string; name?: string; origincert: string }): Promise<ConnectorCredential> {
  if (o.token || o.name) {
    const c = o.token ? decodeTunnelToken(o.token) : findTunnelCredentials(o.name!);
    return { ...c, source: `tunnel ${c.name} (${c.id})`, tunnel: c.name };
  }
  const text = await Bun.file(o.origincert).text().catch((e: Error) => {
    throw configError(`cannot read the zone credential ${o.origincert} (${unreadable(e)}); run \`wicket tunnel login\` or pass --origincert`);
  });
  return { ...parseZoneCredential(text, o.origincert), source: `zone credential ${o.origincert}` };
}

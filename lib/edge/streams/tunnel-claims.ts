// Whose hostname is it: a connector authenticates as a named tunnel (its id and secret) or
// with a zone credential (cert.pem, the seed's one-line form), and may serve only hostnames
// whose longest zone is its zone and that are routed to its tunnel. An unrouted hostname is
// routed to the claiming tunnel of a zone credential (a tunnel's own credentials route
// nothing); a hostname routed to another tunnel is refused. Every
// registration and refusal is an audit record.
import { log } from "../../cli/log.ts";
import { createDenialLimiter } from "../decisions/denials.ts";
import {
  credentialOwner,
  credentialRefusal,
  ensureTunnel,
  getTunnel,
  getZoneCredential,
  normalizeDnsName,
  routeHostname,
  routeOf,
  StoreError,
  verifyTunnelSecret,
  verifyZoneCredential,
  writeAudit,
  listZones,
  madeWith,
  zoneFor,
  type Store,
  type ZoneCredential,
} from "../../store/index.ts";
import { rotateTunnelSecret, TUNNEL_ID_PREFIX, tunnelNameFor, tunnelStanding, type TunnelIdentity } from "../../store/tunnels.ts";
import { hashSecret } from "../../auth/secret.ts";
import { bearerToken, idAndSecret } from "../../wire/bearer.ts";

/** At most this many hostnames in one hello. */
export const MAX_HOSTNAMES = 256;
/** Tunnels the one-line form (`tunnel --hostname H`) makes for one credential's owner (who
 * obtained it; a new login is a new credential of the same owner) in a zone: a quarter of the
 * zone's 1,000, one per server with a hostname of its own; past that, one tunnel serves many
 * hostnames, or replicas share one. Without it one credential could take all 1,000. */
export const MAX_ONE_LINER_TUNNELS = 250;

/** Who a connector connection is, from its upgrade request. */
export type ConnectorIdentity =
  | { kind: "tunnel"; tunnel: TunnelIdentity }
  | { kind: "zone-credential"; credential: ZoneCredential };

export const zoneOfIdentity = (who: ConnectorIdentity) => (who.kind === "tunnel" ? who.tunnel.zone : who.credential.zone);
/** How the audit and the logs name the connector's credential. */
export const describeIdentity = (who: ConnectorIdentity) => (who.kind === "tunnel" ? `tunnel ${who.tunnel.name} (${who.tunnel.id})` : `zone credential ${who.credential.id}${who.credential.obtainedBy ? ` of ${who.credential.obtainedBy}` : ""}`);
/** Refusals of one credential that reach the audit: a few a minute, the rest counted. */
const refusals = createDenialLimiter();

/** Checks `Authorization: Bearer <id>.<secret>`: a tunnel's credentials or a zone credential. */
export async function identifyConnector(store: Store, authorization: string): Promise<ConnectorIdentity | { refused: string }> {
  const c = idAndSecret(bearerToken(authorization));
  if (!c) return { refused: "the connector sent no credential; run `wicket tunnel login`, or pass the tunnel's token" };
  if (c.id.startsWith(TUNNEL_ID_PREFIX)) {
    const tunnel = await verifyTunnelSecret(store, c.id, c.secret);
    if (tunnel && "refused" in tunnel) return tunnel;
    return tunnel ? { kind: "tunnel", tunnel } : { refused: "the tunnel's credentials were refused (deleted, rotated or wrong); get new ones: `wicket tunnel token NAME --rotate`" };
  }
  const r = await verifyZoneCredential(store, c.id, c.secret);
  return "credential" in r ? { kind: "zone-credential", credential: r.credential } : r;
}

export type Claim = { tunnel: { id: string; name: string }; hostnames: string[] };

/** Checks the hello's hostnames and routes them to the connector's tunnel; a refusal says why. */
export async function claimHostnames(store: Store, who: ConnectorIdentity, raw: string[], ip: string): Promise<Claim | { refused: string }> {
  const zone = zoneOfIdentity(who);
  const audit = (action: string, reason: string, target?: string) =>
    writeAudit(store, { kind: "admin", identity: describeIdentity(who), actor: describeIdentity(who), action, reason: reason.slice(0, 1000), target: target?.slice(0, 1000), ip }).catch((e) =>
      log.error(`audit: cannot record "${reason}": ${(e as Error).message}`),
    );
  const refuse = async (reason: string, target?: string) => {
    // a credential refused again and again (a connector restarting in a loop) writes a few rows a minute
    const v = refusals.admit(who.kind === "tunnel" ? who.tunnel.id : who.credential.id);
    if (v.record) {
      await audit("tunnel.refuse", v.suppressedBefore ? `${reason} (and ${v.suppressedBefore} refusals of this credential in the minute before, not recorded one by one)` : reason, target);
      log.warn(`refused a connector from ${ip} (${describeIdentity(who)}): ${reason}`);
    }
    return { refused: reason };
  };
  // checked again now: the credential may have been revoked since the connection opened
  const gone = await credentialGone(store, who);
  if (gone) return refuse(gone);
  if (raw.length === 0) return refuse("the connector claimed no hostname");
  if (raw.length > MAX_HOSTNAMES) return refuse(`the connector claimed ${raw.length} hostnames; at most ${MAX_HOSTNAMES} fit on one connection`);
  const hostnames: string[] = [];
  const zones = (await listZones(store)).map((z) => z.name);
  for (const h of raw) {
    let name: string;
    try {
      name = normalizeDnsName(h);
    } catch {
      return refuse(`"${String(h).slice(0, 100)}" is not a hostname`);
    }
    const owner = zoneFor(name, zones);
    if (owner !== zone) return refuse(owner && owner !== zone && name.endsWith(`.${zone}`) ? `hostname ${name} belongs to the zone ${owner}, not ${zone} of this credential` : `hostname ${name} is outside the zone ${zone} of this credential`, name);
    if (!hostnames.includes(name)) hostnames.push(name);
  }
  let tunnel: Awaited<ReturnType<typeof tunnelOfCredential>>;
  try {
    tunnel = who.kind === "tunnel" ? who.tunnel : await tunnelOfCredential(store, who.credential, hostnames);
  } catch (e) {
    if (e instanceof StoreError) return refuse(e.message);
    throw e;
  }
  if ("refused" in tunnel) return refuse(tunnel.refused);
  for (const h of hostnames) {
    // A tunnel's own credentials (a token on a server, in CI) serve the hostnames routed to it;
    // routing one is the zone credential's to do (`wicket tunnel route`), else any token of the
    // zone could take a hostname nobody has routed yet.
    if (who.kind === "tunnel") {
      const r = await routeOf(store, h);
      if (r?.id === tunnel.id) continue;
      return refuse(r ? `${h} is routed to the tunnel "${r.name}"` : `${h} is not routed to the tunnel ${tunnel.name}; route it first: wicket tunnel route ${tunnel.name} ${h}`, h);
    }
    try {
      const r = await routeHostname(store, tunnel, h);
      if (r.tunnel.id !== tunnel.id) return refuse(`${h} is routed to the tunnel "${r.tunnel.name}"`, h);
    } catch (e) {
      if (e instanceof StoreError) return refuse(e.message, h);
      throw e;
    }
  }
  await audit("tunnel.register", `${describeIdentity(who)} registered a connection from ${ip} for ${hostnames.join(", ")} as tunnel ${tunnel.name} (${tunnel.id})`, hostnames.join(" "));
  return { tunnel: { id: tunnel.id, name: tunnel.name }, hostnames };
}

/** The seed's form: a zone credential serves through the tunnel its owner already has for one
 * of these hostnames, else the owner's tunnel named after the first (made once, however many
 * connections ask at the same moment). */
async function tunnelOfCredential(store: Store, c: ZoneCredential, hostnames: string[]): Promise<{ id: string; name: string; zone: string } | { refused: string }> {
  const owner = credentialOwner(c);
  const made = madeWith(c);
  for (const h of hostnames) {
    const routed = await routeOf(store, h);
    if (!routed) continue;
    const t = await getTunnel(store, routed.id);
    // the owner's tunnel that expired or was disabled with another credential of theirs: this one takes it on
    if (t?.createdBy === owner && t.zone === c.zone) return t.disabled ? (await rotateTunnelSecret(store, t.id, made)).tunnel : t;
    // the same owner's tunnel of another zone (one admin obtains credentials for several) is not this zone's
    if (t && t.zone !== c.zone) return { refused: `${h} is served by the tunnel "${routed.name}" (${routed.id}) of the zone ${t.zone}, not ${c.zone}` };
    return { refused: `${h} is served by the tunnel "${routed.name}" (${routed.id}) of someone else; to add a replica, run \`wicket tunnel run --token <its token>\` (\`wicket tunnel token ${routed.name}\` prints it)` };
  }
  // the name may be another owner's: then one with a suffix of this owner's own
  const mine =
    (await ensureTunnel(store, c.zone, tunnelNameFor(hostnames[0]!), owner, { made, maxOwned: MAX_ONE_LINER_TUNNELS })) ??
    (await ensureTunnel(store, c.zone, tunnelNameFor(hostnames[0]!, `-${hashSecret(owner).slice(0, 6)}`), owner, { made, maxOwned: MAX_ONE_LINER_TUNNELS }));
  return mine ?? { refused: `no tunnel name is free for ${hostnames[0]}; create one with \`wicket tunnel create NAME\` and run it` };
}

/** Why a registered connection may no longer serve, or undefined while it may: its credential
 * revoked or expired, its tunnel deleted, or a hostname routed elsewhere. */
export async function recheckClaim(store: Store, who: ConnectorIdentity, claim: Claim): Promise<string | undefined> {
  const gone = await credentialGone(store, who);
  if (gone) return gone;
  // a tunnel's own credential was checked against its tunnel just now; a zone credential's
  // connection holds no tunnel secret (a tunnel disabled with another credential lost its routes)
  if (who.kind !== "tunnel" && !(await getTunnel(store, claim.tunnel.id))) return `the tunnel ${claim.tunnel.name} (${claim.tunnel.id}) was deleted`;
  const zone = zoneOfIdentity(who);
  const zones = (await listZones(store)).map((z) => z.name);
  for (const h of claim.hostnames) {
    // a zone added inside this one takes its hostnames (and their routes) with it
    const owner = zoneFor(h, zones);
    if (owner !== zone) return `${h} now belongs to the zone ${owner ?? "(none)"}, not ${zone}`;
    const r = await routeOf(store, h);
    if (r?.id !== claim.tunnel.id) return `${h} is now routed to ${r ? `the tunnel "${r.name}"` : "no tunnel"}`;
  }
  return undefined;
}

/** Why the credential a connection presented no longer lets it in, or undefined. */
async function credentialGone(store: Store, who: ConnectorIdentity): Promise<string | undefined> {
  if (who.kind === "tunnel") return tunnelStanding(store, who.tunnel);
  const c = await getZoneCredential(store, who.credential.id);
  if (!c) return `the zone ${who.credential.zone} of this credential was removed`;
  return credentialRefusal(c);
}

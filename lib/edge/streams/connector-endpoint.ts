// Where connectors connect (CONNECT_PATH): the zone credential is checked before the upgrade,
// the hello after it; a registered connection carries streams for the hostnames it claimed
// until it closes or says go-away. What one credential and one zone may hold here, and how fast
// a credential may register, is connector-limits.ts.
import type { ServerWebSocket } from "bun";
import { log } from "../../cli/log.ts";
import { writeAudit, type Store } from "../../store/index.ts";
import { claimHostnames, describeIdentity, identifyConnector, recheckClaim, zoneOfIdentity, type ConnectorIdentity } from "./tunnel-claims.ts";
import { Close, closeReason } from "../../wire/close.ts";
import { ProtocolError } from "../../wire/errors.ts";
import { PROTOCOL_VERSION } from "../../wire/frame.ts";
import { createMux, type Mux } from "../../wire/mux.ts";
import { serverTransport } from "../../wire/ws-transport.ts";
import { CLIENT_HIGH_WATER } from "../../wire/client.ts";
import { credentialKey, type ConnectorConn, type Connectors } from "./connectors.ts";
import { createRegistrationLimiter, overCap, type ConnectorLimits } from "./connector-limits.ts";
import { createDenialLimiter } from "../decisions/denials.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";

/** `hello`: the one hello was seen (a second is a protocol error). */
export type ConnectorData = { kind: "connector"; who?: ConnectorIdentity; ip: string; reject?: { code: number; reason: string }; hello?: boolean; conn?: ConnectorConn; mux?: Mux; timer?: Timer };
export type ConnectorSocket = ServerWebSocket<ConnectorData>;

/** What connector connections share on a node. */
export interface ConnectorRoom {
  connectors: Connectors;
  metrics: EdgeMetrics;
  keepalive: { intervalMs: number; timeoutMs: number };
  draining(): boolean;
  publicUrl(): string;
  store: Store;
  /** What one tunnel, credential and zone may hold on this node. */
  limits: ConnectorLimits;
  /** A connection registered, moved or closed. */
  changed(): void;
}

/** A connection must say hello this soon after it opened, or it is closed: a credential holder
 * cannot park connections that nobody re-checks. */
const HELLO_DEADLINE_MS = 10_000;
/** Connections of one credential that have not said hello yet, at once on a node: a tunnel's
 * replicas all starting together fit; a credential opening connections it never uses does not. */
export const MAX_OPENING_PER_CREDENTIAL = 256;
const opening = new Map<string, number>();
/** Registrations per credential per second, on this node. */
const registrations = createRegistrationLimiter();
/** Refusals for want of room that reach the audit and the log: a few a minute per credential. */
const crowded = createDenialLimiter();
/** setTimeout's longest delay; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A name a peer chose, fit for a log line: printable ASCII, 100 characters at most. */
export const printable = (text: string) => text.replace(/[^\x20-\x7e]/g, "?").slice(0, 100);

/** Checks the credential in the upgrade request; a refusal is told after the upgrade. */
export async function authorizeConnector(store: Store, req: Request, ip: string): Promise<ConnectorData> {
  const who = await identifyConnector(store, req.headers.get("authorization") ?? "");
  if ("refused" in who) return { kind: "connector", ip, reject: { code: Close.unauthenticated, reason: who.refused } };
  return { kind: "connector", ip, who };
}

export function openConnector(ws: ConnectorSocket, room: ConnectorRoom) {
  const d = ws.data;
  if (d.reject) return ws.close(d.reject.code, closeReason(d.reject.reason));
  const key = credentialKey(d.who!);
  const before = opening.get(key) ?? 0;
  if (before >= MAX_OPENING_PER_CREDENTIAL) return ws.close(Close.denied, closeReason(`${MAX_OPENING_PER_CREDENTIAL} connections of this credential are already opening here; wait for them to say hello`));
  opening.set(key, before + 1);
  let opened = true;
  /** The connection said hello, or closed: it is opening no more. */
  const settled = () => {
    if (!opened) return;
    opened = false;
    const left = (opening.get(key) ?? 1) - 1;
    if (left > 0) opening.set(key, left);
    else opening.delete(key);
  };
  const mux = createMux({
    role: "opener",
    transport: serverTransport(ws),
    highWater: CLIENT_HIGH_WATER,
    pingIntervalMs: room.keepalive.intervalMs,
    deadAfterMs: room.keepalive.timeoutMs,
    onHello(version, meta) {
      if (d.hello) throw new ProtocolError("a second hello on one connection");
      d.hello = true;
      settled();
      clearTimeout(d.timer);
      if (room.draining()) return ws.close(Close.goingAway, "this edge is shutting down; connect to another node");
      if (version !== PROTOCOL_VERSION) return ws.close(Close.versionMismatch, `this edge speaks protocol ${PROTOCOL_VERSION}, the connector ${version}; upgrade the older one`);
      void register(ws, room, printable(meta.connector ?? "?"), meta.hostnames ?? [], meta.resume === true).catch((e: Error) => {
        log.error(`registering a connector from ${d.ip}: ${e.message}`);
        ws.close(Close.unavailable, "the edge cannot register this connector right now; it will retry");
      });
    },
    onGoAway(_code, reason) {
      if (d.conn) room.connectors.goneAway(d.conn);
      room.changed();
      log.info(`connector ${d.conn?.id} is draining (${printable(reason)}): no new streams go to this connection; its ${mux.streams.size} live stream(s) continue`);
    },
    onClose(reason) {
      settled();
      clearTimeout(d.timer);
      const conn = d.conn;
      if (conn) {
        room.connectors.remove(conn);
        room.metrics.disconnects.inc({ reason: reason.startsWith("peer stopped answering") ? "keepalive" : "closed" });
      }
      room.changed();
      if (!conn) return log.info(`connector connection from ${d.ip} closed before it registered (${reason})`);
      const left = room.connectors.count("connector", conn.id);
      log.info(
        `connector ${conn.id} from ${d.ip} disconnected (${reason}); its streams on that connection ended; ${left ? `${left} other connection(s) of it carry new ones` : `it has no other connection here, so ${conn.hostnames.join(", ")} wait for it to reconnect`}`,
      );
    },
  });
  d.mux = mux;
  d.timer = setTimeout(() => mux.close(`no hello within ${HELLO_DEADLINE_MS / 1000} s`, Close.protocolError), HELLO_DEADLINE_MS);
}

/** Claims the hello's hostnames for the connection's tunnel, then routes streams to it. */
async function register(ws: ConnectorSocket, room: ConnectorRoom, connector: string, hostnames: string[], resume: boolean) {
  const d = ws.data;
  const who = d.who!;
  const zone = zoneOfIdentity(who);
  const wait = registrations.take(who);
  // not denied: the connector backs off and comes back
  if (wait > 0) return refuse(ws, room, who, Close.unavailable, `this credential registers connections here too fast; retry in ${Math.ceil(wait / 1000)} s`);
  // before the claim's store work, then again with the claim's tunnel and hostnames
  const early = overCap(room.connectors, { who, zone, tunnel: who.kind === "tunnel" ? who.tunnel : undefined }, room.limits);
  if (early) return refuse(ws, room, who, Close.denied, early);
  const claim = await claimHostnames(room.store, who, hostnames, d.ip);
  if (d.mux!.closed) return;
  if ("refused" in claim) return ws.close(Close.denied, closeReason(claim.refused));
  const full = overCap(room.connectors, { who, zone, tunnel: claim.tunnel, hostnames: claim.hostnames }, room.limits);
  if (full) return refuse(ws, room, who, Close.denied, full, claim.hostnames);
  const conn: ConnectorConn = { id: connector, zone, hostnames: claim.hostnames, tunnel: claim.tunnel, who, mux: d.mux!, remote: d.ip, resume };
  d.conn = conn;
  room.connectors.add(conn);
  // A change that landed between the claim and now was re-checked without this connection:
  // check it once more, now that any later change will find it in the registry.
  if (await cut(room.store, room.connectors, conn)) return;
  d.mux!.hello({ edge: room.publicUrl() }, true);
  room.changed();
  const expiresAt = conn.who.kind === "zone-credential" ? conn.who.credential.expiresAt : conn.who.tunnel.expiresAt;
  if (expiresAt !== undefined) cutAtExpiry(d, room, conn, expiresAt);
  log.info(`connector ${connector} from ${d.ip} serves ${claim.hostnames.join(", ")} as tunnel ${claim.tunnel.name}`);
}

/** Closes a connection the node has no room for, with the reason (denied: the connector stops
 * and says why); a few such refusals a minute per credential reach the audit and the log. */
function refuse(ws: ConnectorSocket, room: ConnectorRoom, who: ConnectorIdentity, code: number, why: string, hostnames?: string[]) {
  ws.close(code, closeReason(why));
  const v = crowded.admit(credentialKey(who));
  if (!v.record) return;
  const reason = v.suppressedBefore ? `${why} (and ${v.suppressedBefore} such refusals of this credential in the minute before)` : why;
  log.warn(`refused a connector from ${ws.data.ip} (${describeIdentity(who)}): ${reason}`);
  void writeAudit(room.store, { kind: "admin", identity: describeIdentity(who), action: "tunnel.refuse", reason, target: hostnames?.join(" ").slice(0, 1000), ip: ws.data.ip }).catch(() => {});
}

/** A zone credential or tunnel secret that expires ends its connections then; nothing else moves at that moment.
 * The timer lives on the socket's data, cleared when the connection closes. */
function cutAtExpiry(d: ConnectorData, room: ConnectorRoom, conn: ConnectorConn, expiresAt: number) {
  const left = expiresAt - Date.now();
  d.timer = setTimeout(() => (left > MAX_TIMER_MS ? cutAtExpiry(d, room, conn, expiresAt) : void cut(room.store, room.connectors, conn)), Math.min(Math.max(left, 0), MAX_TIMER_MS));
  d.timer.unref?.();
}

/** Re-checks one connection and cuts it when it may no longer serve; true when cut. */
async function cut(store: Store, connectors: Connectors, c: ConnectorConn, checked?: Map<string, Promise<string | undefined>>): Promise<boolean> {
  // replicas of one tunnel with one credential and the same hostnames are checked once per pass
  const key = `${c.who.kind === "tunnel" ? c.who.tunnel.id : c.who.credential.id} ${c.tunnel.id} ${c.hostnames.join(" ")}`;
  let check = checked?.get(key);
  if (!check) {
    check = recheckClaim(store, c.who, { tunnel: c.tunnel, hostnames: c.hostnames });
    checked?.set(key, check);
  }
  const why = await check;
  if (!why || c.mux.closed) return false;
  // out of the registry before the audit write: no new stream goes to it meanwhile
  connectors.remove(c);
  log.info(`cutting connector ${c.id} from ${c.remote} (${describeIdentity(c.who)}): ${why}`);
  await writeAudit(store, { kind: "admin", identity: describeIdentity(c.who), action: "tunnel.cut", reason: `cut the connection from ${c.remote}: ${why}`, target: c.hostnames.join(" "), ip: c.remote }).catch(() => {});
  c.mux.close(why, Close.denied);
  return true;
}

/** Access changed: cuts the connections whose credential, tunnel or routes no longer let them serve. */
export async function recheckConnectors(store: Store, connectors: Connectors) {
  const checked = new Map<string, Promise<string | undefined>>();
  for (const c of connectors.all()) await cut(store, connectors, c, checked);
}

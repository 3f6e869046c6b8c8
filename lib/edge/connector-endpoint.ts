// Where connectors connect (CONNECT_PATH): the zone credential is checked before the upgrade,
// the hello after it; a registered connection carries streams for the hostnames it claimed
// until it closes or says go-away.
import type { ServerWebSocket } from "bun";
import { log } from "../cli/log.ts";
import { writeAudit, type Store } from "../store/index.ts";
import { claimHostnames, describeIdentity, identifyConnector, recheckClaim, zoneOfIdentity, type ConnectorIdentity } from "./tunnel-claims.ts";
import { Close, closeReason } from "../wire/close.ts";
import { ProtocolError } from "../wire/errors.ts";
import { PROTOCOL_VERSION } from "../wire/frame.ts";
import { createMux, type Mux } from "../wire/mux.ts";
import { serverTransport } from "../wire/ws-transport.ts";
import { CLIENT_HIGH_WATER } from "../wire/client.ts";
import type { ConnectorConn, ConnectorRegistry } from "./connectors.ts";
import type { EdgeMetrics } from "./metrics.ts";

/** `hello`: the one hello was seen (a second is a protocol error). */
export type ConnectorData = { kind: "connector"; who?: ConnectorIdentity; ip: string; reject?: { code: number; reason: string }; hello?: boolean; conn?: ConnectorConn; mux?: Mux };
export type ConnectorSocket = ServerWebSocket<ConnectorData>;

/** What connector connections share on a node. */
export interface ConnectorRoom {
  connectors: ConnectorRegistry;
  metrics: EdgeMetrics;
  keepalive: { intervalMs: number; timeoutMs: number };
  draining(): boolean;
  publicUrl(): string;
  store: Store;
  /** A connection registered, moved or closed. */
  changed(): void;
}

/** Connections of one tunnel on one node: replicas and their HA connections, with room to spare. */
export const MAX_CONNECTIONS_PER_TUNNEL = 128;

/** Checks the credential in the upgrade request; a refusal is told after the upgrade. */
export async function authorizeConnector(store: Store, req: Request, ip: string): Promise<ConnectorData> {
  const who = await identifyConnector(store, req.headers.get("authorization") ?? "");
  if ("refused" in who) return { kind: "connector", ip, reject: { code: Close.unauthenticated, reason: who.refused } };
  return { kind: "connector", ip, who };
}

export function openConnector(ws: ConnectorSocket, room: ConnectorRoom) {
  const d = ws.data;
  if (d.reject) return ws.close(d.reject.code, closeReason(d.reject.reason));
  const mux = createMux({
    role: "edge",
    transport: serverTransport(ws),
    highWater: CLIENT_HIGH_WATER,
    pingIntervalMs: room.keepalive.intervalMs,
    deadAfterMs: room.keepalive.timeoutMs,
    onHello(version, meta) {
      if (d.hello) throw new ProtocolError("a second hello on one connection");
      d.hello = true;
      if (room.draining()) return ws.close(Close.goingAway, "this edge is shutting down; connect to another node");
      if (version !== PROTOCOL_VERSION) return ws.close(Close.versionMismatch, `this edge speaks protocol ${PROTOCOL_VERSION}, the connector ${version}; upgrade the older one`);
      void register(ws, room, meta.connector ?? "?", meta.hostnames ?? []).catch((e: Error) => {
        log.error(`registering a connector from ${d.ip}: ${e.message}`);
        ws.close(Close.unavailable, "the edge cannot register this connector right now; it will retry");
      });
    },
    onGoAway(_code, reason) {
      room.changed();
      log.info(`connector ${d.conn?.id} is draining (${reason}): no new streams go to this connection; its ${mux.streams.size} live stream(s) continue`);
    },
    onClose(reason) {
      const conn = d.conn;
      if (conn) {
        room.connectors.remove(conn);
        room.metrics.disconnects.inc({ reason: reason.startsWith("peer stopped answering") ? "keepalive" : "closed" });
      }
      room.changed();
      if (!conn) return log.info(`connector connection from ${d.ip} closed before it registered (${reason})`);
      const left = room.connectors.all().filter((c) => c.id === conn.id).length;
      log.info(
        `connector ${conn.id} from ${d.ip} disconnected (${reason}); its streams on that connection ended; ${left ? `${left} other connection(s) of it carry new ones` : `it has no other connection here, so ${conn.hostnames.join(", ")} wait for it to reconnect`}`,
      );
    },
  });
  d.mux = mux;
}

/** Claims the hello's hostnames for the connection's tunnel, then routes streams to it. */
async function register(ws: ConnectorSocket, room: ConnectorRoom, connector: string, hostnames: string[]) {
  const d = ws.data;
  const claim = await claimHostnames(room.store, d.who!, hostnames, d.ip);
  if (d.mux!.closed) return;
  if ("refused" in claim) return ws.close(Close.denied, closeReason(claim.refused));
  if (room.connectors.all().filter((c) => c.tunnel.id === claim.tunnel.id).length >= MAX_CONNECTIONS_PER_TUNNEL) {
    return ws.close(Close.denied, closeReason(`the tunnel ${claim.tunnel.name} already has ${MAX_CONNECTIONS_PER_TUNNEL} connections to this edge`));
  }
  d.conn = { id: connector, zone: zoneOfIdentity(d.who!), hostnames: claim.hostnames, tunnel: claim.tunnel, who: d.who!, mux: d.mux!, remote: d.ip };
  room.connectors.add(d.conn);
  d.mux!.hello({ edge: room.publicUrl() }, true);
  room.changed();
  log.info(`connector ${connector} from ${d.ip} serves ${claim.hostnames.join(", ")} as tunnel ${claim.tunnel.name}`);
}

/** Access changed: cuts the connections whose credential, tunnel or routes no longer let them serve. */
export async function recheckConnectors(store: Store, connectors: ConnectorRegistry) {
  for (const c of connectors.all()) {
    const why = await recheckClaim(store, c.who, { tunnel: c.tunnel, hostnames: c.hostnames });
    if (!why || c.mux.closed) continue;
    log.info(`cutting connector ${c.id} from ${c.remote} (${describeIdentity(c.who)}): ${why}`);
    await writeAudit(store, { kind: "admin", identity: describeIdentity(c.who), action: "tunnel.cut", reason: `cut the connection from ${c.remote}: ${why}`, target: c.hostnames.join(" "), ip: c.remote }).catch(() => {});
    connectors.remove(c);
    c.mux.close(why, Close.denied);
  }
}

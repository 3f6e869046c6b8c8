// Where peer nodes connect (PEER_PATH): a node that got a client for a hostname whose
// connector is held here opens a stream on its link to this node, and this node splices that
// stream onto a stream to its own connector. The decision, audit and live session stay on the
// node the client arrived at; a reset travels through the splice both ways. A resumable stream,
// new or resumed, goes to the connector process its id names (lib/edge/cluster/peer-resume.ts).
import type { ServerWebSocket } from "bun";
import { boundedLog, log } from "../../cli/log.ts";
import { Close, closeReason } from "../../wire/close.ts";
import { ResetCode, type OpenMeta } from "../../wire/frame.ts";
import { createMux, type Mux, type Stream } from "../../wire/mux.ts";
import { NODE_HEADER } from "../../wire/http.ts";
import { bearerToken } from "../../wire/bearer.ts";
import { serverTransport } from "../../wire/ws-transport.ts";
import { checkClusterSecret } from "../../store/index.ts";
import type { Connectors } from "./connectors.ts";
import { printable } from "./connector-endpoint.ts";
import { holderOf } from "./client-resume.ts";
import { NOT_HELD_HERE } from "../cluster/peer-resume.ts";

export type PeerData = { kind: "peer"; node: string; ip: string; reject?: { code: number; reason: string }; mux?: Mux };
export type PeerSocket = ServerWebSocket<PeerData>;

export interface PeerRoom {
  connectors: Connectors;
  keepalive: { intervalMs: number; timeoutMs: number };
  /** Inbound links, for the drain. */
  links: Set<Mux>;
}

/** Anyone may knock on the peer path. */
const refusals = boundedLog();

/** Checks the cluster secret in the upgrade request; `secret` undefined: this node is in no cluster. */
export function authorizePeer(req: Request, ip: string, secret: string | undefined): PeerData {
  const node = printable(req.headers.get(NODE_HEADER) ?? "?");
  const presented = bearerToken(req.headers.get("authorization"));
  if (!secret || !presented || !checkClusterSecret(presented, secret)) {
    refusals("warn", `refused a peer link from ${ip} (node ${node}): ${secret ? "wrong or missing cluster secret" : "this edge is in no cluster"}`);
    return { kind: "peer", node, ip, reject: { code: Close.unauthenticated, reason: "this peer link was refused: it needs the cluster secret" } };
  }
  return { kind: "peer", node, ip };
}

/** Bytes from one stream to the other: credit goes back to `from` once `to` has taken them. */
function pipe(from: Stream, to: Stream) {
  let owed = 0;
  from.onData = (bytes) => {
    if (to.write(bytes)) from.ack(bytes.byteLength);
    else owed += bytes.byteLength;
  };
  to.onDrain = () => {
    if (owed === 0) return;
    from.ack(owed);
    owed = 0;
  };
  from.onEnd = () => to.end();
  from.onClose = (code, reason) => {
    if (code !== ResetCode.normal) to.reset(code, reason);
  };
}

/** Why nothing here takes the stream `meta` opens. A new resumable stream's client holds tickets
 * for it already: it must not try to resume it (NOT_HELD_HERE would have it try again). */
function refusal(meta: OpenMeta): [code: number, reason: string] {
  if (!meta.resume) return [ResetCode.refused, `no connector is online for ${meta.host} on the node it was sent to; try again`];
  if (meta.resume.cut > 0) return [ResetCode.refused, NOT_HELD_HERE];
  return [ResetCode.notResumable, "the connector it was opened to had just left its node; connect again"];
}

export function openPeer(ws: PeerSocket, room: PeerRoom) {
  const d = ws.data;
  if (d.reject) return ws.close(d.reject.code, closeReason(d.reject.reason));
  const mux = createMux({
    role: "acceptor",
    transport: serverTransport(ws),
    pingIntervalMs: room.keepalive.intervalMs,
    deadAfterMs: room.keepalive.timeoutMs,
    onHello(_version, _meta, ack) {
      if (!ack) mux.hello({}, true);
    },
    onStream(stream: Stream, meta: OpenMeta) {
      // a resumable stream goes to the connector process its id names, which holds it (a resume)
      // or will (a new one: the client speaks resume records only to that process), or is refused
      const conn = meta.resume ? holderOf(room.connectors, meta.resume.id, meta.host) : room.connectors.pick(meta.host);
      if (!conn) return stream.reset(...refusal(meta));
      const out = conn.mux.open(meta);
      pipe(stream, out);
      pipe(out, stream);
    },
    onClose(reason) {
      room.links.delete(mux);
      log.info(`peer link from node ${d.node} (${d.ip}) closed: ${reason}`);
    },
  });
  d.mux = mux;
  room.links.add(mux);
  log.info(`peer link from node ${d.node} (${d.ip}) open`);
}

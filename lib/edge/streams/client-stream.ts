// A client's WebSocket as a stream to a connector (the client <-> edge protocol of
// lib/wire/client.ts): bytes from the client go onto the mux stream, paused while it has no
// room; bytes from the origin wait in an out queue, bounded by the stream's window, until the
// socket's buffer is small; a half-close and a reset each become what the client expects.
import type { ServerWebSocket } from "bun";
import { log } from "../../cli/log.ts";
import { CLIENT_HIGH_WATER, ClientMessage, closeForReset } from "../../wire/client.ts";
import { Close, closeReason } from "../../wire/close.ts";
import { ResetCode, type OpenMeta } from "../../wire/frame.ts";
import type { Mux, Stream } from "../../wire/mux.ts";
import type { ResumeAuth } from "../decisions/resume.ts";
import type { Store } from "../../store/index.ts";
import { giveTickets, newResume, resumeOpened, routeResumable, stopTickets, type ClientResume } from "./client-resume.ts";
import type { PeerResume } from "../cluster/peer-resume.ts";
import type { Connectors } from "./connectors.ts";
import type { createKeepalive, Watched } from "./keepalive.ts";
import type { LiveSessions } from "../decisions/live-sessions.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";

/** What waits to go to a client, in order: bytes, then perhaps the half-close and the close. */
type ClientOut = Uint8Array | typeof ClientMessage.fin | "close";
/** `cut`: the session was cut (a revocation, a re-check), with the close the client gets. */
export type ClientData = ResumeAuth & { kind: "client"; resume?: ClientResume; stream?: Stream; out: ClientOut[]; watch?: Watched; cut?: { code: number; reason: string }; closed?: boolean; finished?: boolean };
export type ClientSocket = ServerWebSocket<ClientData>;

/** What client streams share on a node. */
export interface ClientRoom {
  connectors: Connectors;
  liveSessions: LiveSessions;
  metrics: EdgeMetrics;
  keepalive: ReturnType<typeof createKeepalive>;
  /** Client sockets with a stream, until their WebSocket closes. */
  clients: Set<ClientSocket>;
  /** A client or connector came or went: gauges, and the drain waiting for the last one. */
  changed(): void;
  /** In a cluster: a peer link to a node that holds a connector for the hostname, and a
   * resume-capable connector process there if any. */
  peers?: { pick(hostname: string): Promise<{ mux: Mux; process?: string } | undefined>; resume(meta: OpenMeta): Promise<PeerResume | undefined> };
  /** Where resume tickets' keys are: without it no stream is resumable. */
  store?: Store;
}

/** The upgrade's data for a client, once authorizeClient has decided. */
export const clientData = (auth: ResumeAuth): ClientData => ({ kind: "client", out: [], ...auth });

/** The WebSocket opened: refuse it, or register its live session and open its stream. */
export function openClient(ws: ClientSocket, room: ClientRoom) {
  const d = ws.data;
  if (d.reject?.code !== Close.unknownHost) room.metrics.decisions.inc({ decision: d.reject ? "deny" : "allow" });
  if (d.resumeRefused) room.metrics.resumes.inc({ result: "refused", reason: d.resumeRefused });
  if (d.reject) return ws.close(d.reject.code, closeReason(d.reject.reason));
  room.liveSessions.start(d, {
    counters: () => ({ toOrigin: d.stream?.bytesOut ?? 0, toClient: d.stream?.bytesIn ?? 0 }),
    close(code, reason) {
      // the connector hears the reason with the reset; the client this code (4403: denied),
      // not the one the stream's own end would give
      d.cut = { code, reason };
      d.stream?.reset(ResetCode.canceled, reason);
      ws.close(code, closeReason(reason));
    },
  });
  const { conn, resume } = routeResumable(ws, room);
  if (conn) return attach(ws, room, conn.mux.open(openMeta(d, resume)), resume);
  if (d.resuming) return resumeThroughPeers(ws, room, resume!);
  const refuse = () => {
    room.metrics.noConnector.inc();
    const reason = `no connector is online for ${d.host}; start \`wicket tunnel --hostname ${d.host}\` on the server`;
    void room.liveSessions.end(d.sessionId, reason);
    ws.close(Close.noConnector, closeReason(reason));
  };
  if (!room.peers) return refuse();
  // another node of the cluster may hold it: the stream goes over the peer link, resumable when
  // the node named a resume-capable process (the peer endpoint opens it to that one or refuses)
  room.peers.pick(d.host).then(
    (to) => {
      if (d.closed || d.cut) return;
      if (!to) return refuse();
      const resume = newResume(ws, to.process);
      attach(ws, room, to.mux.open(openMeta(d, resume)), resume);
    },
    (e: Error) => {
      log.warn(`cannot reach the cluster's peers for ${d.host}: ${e.message}`);
      if (!d.closed && !d.cut) refuse();
    },
  );
}

const openMeta = (d: ClientData, resume?: OpenMeta["resume"]): OpenMeta => ({ host: d.host, client: d.ip, identity: d.identity, session: d.sessionId, ...(resume ? { resume } : {}) });

/** A resume whose connector process is not connected here: through the peer link of the node
 * that holds it, or refused, and the client tries again (the connector may be reconnecting). */
function resumeThroughPeers(ws: ClientSocket, room: ClientRoom, resume: NonNullable<OpenMeta["resume"]>) {
  const d = ws.data;
  const refuse = () => {
    room.metrics.resumes.inc({ result: "refused", reason: "no_connector" });
    void room.liveSessions.end(d.sessionId, "the connector holding the stream is not connected to this node or its peers");
    ws.close(Close.noConnector, closeReason(`the connector holding this session is not connected to this edge (yet)`));
  };
  if (!room.peers) return refuse();
  room.peers.resume(openMeta(d, resume)).then(
    (taken) => {
      // the client went again meanwhile: the connector keeps the origin for its next try
      if (d.closed || d.cut) return taken?.stream.reset(d.cut ? ResetCode.canceled : ResetCode.suspended, "client disconnected");
      if (!taken) return refuse();
      log.info(`resuming stream ${resume.id} for ${d.identity} through a peer node: its connector is connected there`);
      attach(ws, room, taken.stream, resume);
      taken.replay();
    },
    (e: Error) => {
      log.warn(`cannot reach the cluster's peers to resume a stream for ${d.host}: ${e.message}`);
      if (!d.closed && !d.cut) refuse();
    },
  );
}

/** Pumps the client's stream, opened on a connector's connection or a peer link. */
function attach(ws: ClientSocket, room: ClientRoom, stream: Stream, resume?: OpenMeta["resume"]) {
  const d = ws.data;
  d.stream = stream;
  if (resume) resumeOpened(ws, resume);
  room.clients.add(ws);
  room.metrics.streams.inc();
  d.watch = {
    ping: () => ws.ping(),
    dead(silentMs) {
      room.metrics.clientTimeouts.inc();
      log.info(`client ${d.identity} from ${d.ip} for ${d.host} sent nothing for ${(silentMs / 1000).toFixed(1)} s; dropping it and its stream`);
      ws.terminate();
    },
  };
  room.keepalive.add(d.watch);
  room.changed();
  // Tells the client it got through: before this, a close means "not let in" and the client
  // may sign in and retry without having sent a byte.
  ws.send(resume ? ClientMessage.openResumable : ClientMessage.open);
  giveTickets(ws, room);
  // The half-close and a normal close go behind the bytes still queued for the client.
  const later = (item: ClientOut) => {
    if (typeof item !== "string") room.metrics.bytes.inc({ direction: "to_client" }, item.byteLength);
    d.out.push(item);
    if (d.out.length === 1) flushClient(ws);
  };
  stream.onData = (bytes) => later(bytes);
  stream.onDrain = () => ws.resume();
  stream.onEnd = () => later(ClientMessage.fin);
  // the client stays in `clients` (and watched) until its WebSocket closes, queued bytes sent
  stream.onClose = (code, reason) => {
    void room.liveSessions.end(d.sessionId, code === ResetCode.normal ? "ended normally" : `the stream was reset: ${reason || `code ${code}`}`);
    if (d.cut) return ws.close(d.cut.code, closeReason(d.cut.reason));
    if (code === ResetCode.normal) return later("close");
    const close = closeForReset(code, reason);
    ws.close(close.code, closeReason(close.reason));
  };
  if (resume && resume.cut > 0) countResume(stream, room);
}

/** A resume counts once the connector answered with its first record, or refused it. */
function countResume(stream: Stream, room: ClientRoom) {
  const { onData, onClose } = stream;
  stream.onData = (bytes) => {
    room.metrics.resumes.inc({ result: "resumed" });
    stream.onData = onData;
    onData?.(bytes);
  };
  stream.onClose = (code, reason) => {
    if (code === ResetCode.notResumable) room.metrics.resumes.inc({ result: "refused", reason: "not_resumable" });
    onClose?.(code, reason);
  };
}

/** Hands queued bytes to the client's WebSocket while its buffer is small, returning credit
 * for each; the rest waits here (bounded by the stream window) for the next drain. */
function flushClient(ws: ClientSocket) {
  const d = ws.data;
  while (d.out.length > 0 && ws.getBufferedAmount() < CLIENT_HIGH_WATER) {
    const item = d.out.shift()!;
    if (item === "close") return ws.close(Close.normal, "closed");
    if (ws.send(item) === 0) return; // closed: nothing more will go out
    if (item !== ClientMessage.fin) d.stream?.ack(item.byteLength);
  }
}

export function clientMessage(ws: ClientSocket, msg: string | Buffer, room: ClientRoom) {
  const s = ws.data.stream;
  if (!s) return;
  if (ws.data.watch) room.keepalive.heard(ws.data.watch);
  if (typeof msg === "string") {
    if (msg === ClientMessage.fin) {
      ws.data.finished = true;
      s.end();
    }
    return;
  }
  // the stream takes no more after the client's own fin: waiting for room that never comes
  // would stop reading this socket, and its close, for good
  if (ws.data.finished) return ws.close(Close.protocolError, "bytes after fin");
  room.metrics.bytes.inc({ direction: "to_origin" }, msg.byteLength);
  if (!s.write(msg)) ws.pause();
}

export function clientDrained(ws: ClientSocket, room: ClientRoom) {
  flushClient(ws);
  // bytes leaving for a slow client show it is alive, though its pongs wait behind them
  if (ws.data.watch) room.keepalive.heard(ws.data.watch);
}

export function clientPong(ws: ClientSocket, room: ClientRoom) {
  if (ws.data.watch) room.keepalive.heard(ws.data.watch);
}

export function clientClosed(ws: ClientSocket, code: number, reason: string, room: ClientRoom) {
  const d = ws.data;
  d.closed = true;
  room.clients.delete(ws);
  if (d.watch) room.keepalive.remove(d.watch);
  // Close.abnormal: the client's process ended without a close frame (ssh hangs up on its
  // ProxyCommand as it exits, so this is also how many sessions end normally).
  const how = code === Close.normal || code === Close.noStatus ? "" : code === Close.abnormal ? " (it went away without closing)" : ` (${code}${reason ? ` ${reason}` : ""})`;
  stopTickets(ws);
  // a resumable stream's client may come back: its connector keeps the origin meanwhile
  const suspend = d.resume && !d.cut && code !== Close.normal;
  void room.liveSessions.end(d.sessionId, `the client disconnected${how}${suspend ? "; it may resume" : ""}`);
  d.stream?.reset(suspend ? ResetCode.suspended : ResetCode.canceled, "client disconnected");
  room.changed();
}

/** Bytes held for clients that read slower than their origin sends. */
export function queuedForClients(clients: Set<ClientSocket>): number {
  let n = 0;
  for (const ws of clients) n += ws.getBufferedAmount() + ws.data.out.reduce((sum, b) => sum + (typeof b === "string" ? 0 : b.byteLength), 0);
  return n;
}

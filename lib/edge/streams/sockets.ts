// The edge's WebSocket handler table: every socket is one of four kinds, each handled by its
// room — a client's stream (client-stream.ts), a browser's terminal (browser-ssh.ts), and the
// two that carry a mux, a connector's (connector-endpoint.ts) and a peer node's (peer-endpoint.ts).
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { serverMuxSocket } from "../../wire/ws-transport.ts";
import { openTerminal, terminalClosed, terminalDrained, terminalMessage, terminalPong, type TerminalRoom, type TerminalSocket } from "../terminal/ssh.ts";
import { clientClosed, clientDrained, clientMessage, clientPong, openClient, type ClientRoom, type ClientSocket } from "./client-stream.ts";
import { openConnector, type ConnectorData, type ConnectorRoom, type ConnectorSocket } from "./connector-endpoint.ts";
import { openPeer, type PeerData, type PeerRoom, type PeerSocket } from "./peer-endpoint.ts";
import type { WsData } from "../http/routes.ts";

type Socket = ServerWebSocket<WsData>;
const isClient = (ws: Socket): ws is ClientSocket => ws.data.kind === "client";
const isTerminal = (ws: Socket): ws is TerminalSocket => ws.data.kind === "terminal";
/** A connector's or a peer's socket: it carries a mux. */
const muxed = (ws: Socket) => ws as ServerWebSocket<ConnectorData | PeerData>;

export function socketHandlers(rooms: { client: ClientRoom; terminal: TerminalRoom; connector: ConnectorRoom; peer: PeerRoom }): WebSocketHandler<WsData> {
  return {
    maxPayloadLength: 16 * 1024 * 1024,
    backpressureLimit: 64 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    perMessageDeflate: false,
    // keepalive is ours (mux pings for connectors and peers, createKeepalive for clients)
    idleTimeout: 0,
    sendPings: false,
    open(ws) {
      if (isClient(ws)) openClient(ws, rooms.client);
      else if (isTerminal(ws)) openTerminal(ws, rooms.terminal);
      else if (ws.data.kind === "connector") openConnector(ws as ConnectorSocket, rooms.connector);
      else openPeer(ws as PeerSocket, rooms.peer);
    },
    message: (ws, msg) => (isClient(ws) ? clientMessage(ws, msg, rooms.client) : isTerminal(ws) ? terminalMessage(ws, msg, rooms.terminal) : serverMuxSocket.message(muxed(ws), msg)),
    drain: (ws) => (isClient(ws) ? clientDrained(ws, rooms.client) : isTerminal(ws) ? terminalDrained(ws) : serverMuxSocket.drain(muxed(ws))),
    pong: (ws) => (isClient(ws) ? clientPong(ws, rooms.client) : isTerminal(ws) ? terminalPong(ws, rooms.terminal) : undefined),
    close: (ws, code, reason) =>
      isClient(ws) ? clientClosed(ws, code, reason, rooms.client) : isTerminal(ws) ? terminalClosed(ws, code, rooms.terminal) : serverMuxSocket.close(muxed(ws), code, reason),
  };
}

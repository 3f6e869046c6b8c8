// What a mux is made with: its transport and its options (lib/wire/mux.ts makes it; the
// connection's dispatch reads them, so they live below both).
import type { HelloMeta, OpenMeta } from "./frame.ts";
import type { Stream } from "./stream.ts";
import type { WindowBudget } from "./window.ts";

/** What the mux needs from a WebSocket. */
export interface Transport {
  send(bytes: Uint8Array): void;
  /** A data frame as its header and its payload, for a transport that can write the two
   * back to back without joining them (a corked WebSocket); without it they are joined. */
  sendParts?(header: Uint8Array, payload: Uint8Array): void;
  /** Bytes accepted by send() but not yet written to the network. */
  buffered(): number;
  close(code: number, reason: string): void;
}

export interface MuxOptions {
  transport: Transport;
  /** The opener opens streams (the edge, or a node dialing a peer); the acceptor serves them. */
  role: "opener" | "acceptor";
  /** Stop sending data frames while the transport holds more than this. */
  highWater?: number;
  window?: number;
  /** Send a ping this often, and give up on a peer silent for `deadAfterMs` (the transport's
   * close() then gets Close.keepaliveTimeout and should drop the connection without a handshake). */
  pingIntervalMs?: number;
  deadAfterMs?: number;
  /** What stream windows may grow by, shared with other connections (default: the process's). */
  budget?: WindowBudget;
  /** The clock of round trips, the pacer and the windows (tests set it). */
  now?(): number;
  onStream?(stream: Stream, meta: OpenMeta): void;
  onHello?(version: number, meta: HelloMeta, ack: boolean): void;
  onGoAway?(code: number, reason: string): void;
  onClose?(reason: string): void;
}

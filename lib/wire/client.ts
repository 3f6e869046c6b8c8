// The client <-> edge protocol: one WebSocket per connection to an application hostname.
// Binary messages carry the raw bytes each way; two text messages carry the rest:
//   edge -> client  "open"  the client was let in and its stream routed: bytes may flow;
//   either way      "fin"   the sender will send no more (half-close).
// The edge refuses before "open" or ends after it with a close code from `Close`; each code
// is one sentence and one exit code on the client (`closeError`).
import { configError, deniedError, temporaryError, type WicketError } from "../cli/exit.ts";
import { Close } from "./close.ts";
import { ResetCode } from "./frame.ts";

export const ClientMessage = { open: "open", fin: "fin" } as const;
export type ClientMessage = (typeof ClientMessage)[keyof typeof ClientMessage];

/** How much either end lets a WebSocket hold in its own send buffer before it stops feeding it:
 * uWS compacts its buffer by copying on every partial write, so small is fast. */
export const CLIENT_HIGH_WATER = 256 * 1024;

/** The close code a client gets when its stream to the connector was reset with `code`. */
export function closeForReset(code: number, reason: string): { code: number; reason: string } {
  switch (code) {
    case ResetCode.normal:
      return { code: Close.normal, reason: "closed" };
    case ResetCode.originUnreachable:
      return { code: Close.originUnreachable, reason };
    case ResetCode.refused:
      // a connector (or a peer node) that does not serve the hostname after all
      return { code: Close.noConnector, reason: reason || "no connector serves this hostname" };
    case ResetCode.goingAway:
      return { code: Close.goingAway, reason: reason || "connector went away" };
    default:
      return { code: Close.internal, reason: reason || "stream reset" };
  }
}

/** Maps how the edge closed a client's connection; undefined means a normal end. */
export function closeError(code: number, reason: string, hostname: string): WicketError | undefined {
  switch (code) {
    case Close.normal:
      return undefined;
    case Close.unauthenticated:
    case Close.denied:
      return deniedError(reason || `access to ${hostname} was denied`);
    case Close.unknownHost:
      return configError(reason || `the edge serves no application at ${hostname}`);
    case Close.noConnector:
      return temporaryError(reason || `no connector is online for ${hostname}`);
    case Close.unavailable:
      return temporaryError(reason || `the edge cannot serve ${hostname} right now; try again later`);
    case Close.originUnreachable:
      return temporaryError(reason || `the connector for ${hostname} cannot reach its origin`);
    case Close.abnormal:
      return temporaryError(`the connection to the edge for ${hostname} was lost`);
    default:
      return temporaryError(`the edge closed the connection for ${hostname}: ${reason || `code ${code}`}`);
  }
}

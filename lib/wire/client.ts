// The client <-> edge protocol: one WebSocket per connection to an application hostname.
// Binary messages carry the raw bytes each way; two text messages carry the rest:
//   edge -> client  "open"  the client was let in and its stream routed: bytes may flow;
//   either way      "fin"   the sender will send no more (half-close).
// Resumption (lib/resume/, docs/resume.md), only when the client sent the RESUME_HEADER and the
// connector's hello offered it: the edge says "open+resume" instead of "open", then "grace <ms>"
// (how long the connector keeps the stream after a cut: the client tries no longer) and
// "ticket <t>" (again now and then, and on every resume), the binary messages carry resume records end to end, and "fin" means
// the whole stream is over. A client that lost its WebSocket dials again with the ticket in
// the RESUME_HEADER (and its credentials, which are decided again).
// The edge refuses before "open" or ends after it with a close code from `Close`; each code
// is one sentence and one exit code on the client (`closeError`).
import { configError, deniedError, temporaryError, type WicketError } from "../cli/exit.ts";
import { Close } from "./close.ts";
import { ResetCode } from "./frame.ts";

export const ClientMessage = { open: "open", openResumable: "open+resume", fin: "fin" } as const;
export type ClientMessage = (typeof ClientMessage)[keyof typeof ClientMessage];

/** `1`: the client offers resumption; a ticket: it resumes the stream the ticket names. */
export const RESUME_HEADER = "wicket-resume";
export const TICKET_PREFIX = "ticket ";
/** A client that predates it ignores this message, as any text it does not know, and tries for its own RESUME_FOR_MS. */
export const GRACE_PREFIX = "grace ";

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
    case ResetCode.notResumable:
      return { code: Close.notResumable, reason: reason || "the connector no longer holds this stream" };
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
    case Close.notResumable:
      return temporaryError(`the session to ${hostname} cannot be resumed: ${reason || "it is gone"}`);
    case Close.abnormal:
      return temporaryError(`the connection to the edge for ${hostname} was lost`);
    default:
      return temporaryError(`the edge closed the connection for ${hostname}: ${reason || `code ${code}`}`);
  }
}

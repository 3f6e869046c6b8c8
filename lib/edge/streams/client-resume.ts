// The edge's part in a resumable stream: it is a relay that may be restarted. It routes a
// new stream as resumable when both ends offered it (the client's header, the connector's
// hello) and the application's grace is not 0, tells the client the grace and gives it
// tickets, and routes a resume to the connector process that holds the stream; the records
// themselves pass through untouched (lib/resume/records.ts).
import { log } from "../../cli/log.ts";
import { randomId } from "../../auth/secret.ts";
import { signResumeTicket, TICKET_LIFETIME_MS } from "../../auth/resume-ticket.ts";
import { GRACE_PREFIX, TICKET_PREFIX } from "../../wire/client.ts";
import { Close } from "../../wire/close.ts";
import { DEFAULT_RESUME_GRACE_MS, type OpenMeta } from "../../wire/frame.ts";
import type { Store } from "../../store/index.ts";
import type { ResumeAuth } from "../decisions/resume.ts";
import type { ConnectorConn, Connectors } from "./connectors.ts";

/** What the edge knows of a client's resumable stream: its end-to-end id, the cut its next
 * ticket is for, the connector process that holds it, and how long that keeps it after a cut. */
export type ClientResume = { id: string; cut: number; connector: string; graceMs: number; timer?: Timer };

/** What of a client's socket and its room this needs (client-stream.ts has the rest). */
type Client = { data: ResumeAuth & { resume?: ClientResume; closed?: boolean }; send(message: string): unknown };
type Room = { connectors: Connectors; store?: Store };

/** The connector process a resumable stream's id names. */
const connectorOf = (stream: string) => stream.slice(0, stream.lastIndexOf("/"));

/** A live connection here of the connector process that holds `stream`, for `host`. */
export function holderOf(connectors: Connectors, stream: string, host: string): ConnectorConn | undefined {
  const id = connectorOf(stream);
  return connectors.all().find((c) => c.id === id && c.resume && c.hostnames.includes(host) && !c.mux.closed && !c.mux.peerGoingAway);
}

/** Where a client's stream goes: a connection here (none: the caller looks further, at peers),
 * and the resume metadata of its open. */
export function routeResumable(ws: Client, room: Room): { conn?: ConnectorConn; resume?: OpenMeta["resume"] } {
  const d = ws.data;
  const t = d.resuming;
  if (t) return { conn: holderOf(room.connectors, t.stream, d.host), resume: { id: t.stream, cut: t.cut, graceMs: graceOf(d) } };
  const conn = room.connectors.pick(d.host);
  return { conn, resume: conn?.resume ? newResume(ws, conn.id) : undefined };
}

const graceOf = (d: ResumeAuth) => d.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS;

/** The resume metadata of a new stream to connector process `process`, which takes resumable
 * streams, here or on a peer node: none when the client did not offer resumption. */
export function newResume(ws: Client, process: string | undefined): OpenMeta["resume"] | undefined {
  const graceMs = graceOf(ws.data);
  // an application with no grace (`resume-grace 0`): its streams end with their path, as before
  if (!process || !ws.data.resumeOffered || graceMs === 0) return undefined;
  // the connector process is named in the id: a resume finds it again, on any node
  return { id: `${process}/${randomId("rs_", 12)}`, cut: 0, graceMs };
}

/** The stream opened with `resume`: its next cut is the one the client's tickets are for. */
export function resumeOpened(ws: Client, resume: NonNullable<OpenMeta["resume"]>) {
  ws.data.resume = { id: resume.id, cut: resume.cut + 1, connector: connectorOf(resume.id), graceMs: resume.graceMs ?? DEFAULT_RESUME_GRACE_MS };
}

/** Tells the client how long it may take to come back, and sends it a ticket for its stream's
 * next cut now and a fresh one before it expires. Each names the session the stream began in. */
export function giveTickets(ws: Client, room: Room) {
  const d = ws.data;
  const r = d.resume;
  if (!r || !room.store) return;
  const store = room.store;
  ws.send(GRACE_PREFIX + r.graceMs);
  const session = d.resumes?.session ?? d.sessionId ?? "";
  const send = () => {
    if (d.closed) return;
    signResumeTicket(store, { stream: r.id, cut: r.cut, identity: d.identity, app: d.app ?? d.host, host: d.host, session }).then(
      (t) => void (d.closed || ws.send(TICKET_PREFIX + t)),
      (e: Error) => log.warn(`cannot sign a resume ticket for ${d.identity} at ${d.host}: ${e.message}; the stream will not survive a cut`),
    );
  };
  send();
  r.timer = setInterval(send, TICKET_LIFETIME_MS / 2);
}

export const stopTickets = (ws: Client) => clearInterval(ws.data.resume?.timer);

/** On a graceful stop: clients whose streams resume are told to move now (their connectors
 * keep the origins), instead of being held for the grace period and cut. Returns how many. */
export function moveResumable(clients: Iterable<Client & { close(code: number, reason: string): void }>): number {
  let n = 0;
  for (const ws of clients) {
    if (!ws.data.resume || ws.data.closed) continue;
    ws.close(Close.goingAway, "this edge is shutting down; resume elsewhere");
    n++;
  }
  return n;
}

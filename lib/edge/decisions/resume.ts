// A client that resumes a stream is decided again like any other (its credentials, the
// policy, revocations: authorizeClient), and then its ticket must be one the edge issued for
// this identity, this application and hostname. Whether the ticket's cut was resumed already
// the connector decides, which holds the stream (lib/tunnel/resumable.ts).
import { verifyResumeTicket, type ResumeTicket } from "../../auth/resume-ticket.ts";
import type { Store } from "../../store/index.ts";
import { RESUME_HEADER } from "../../wire/client.ts";
import { Close } from "../../wire/close.ts";
import { refuseWith, type AuthorizeOptions, type ClientAuth } from "./authorize.ts";

/** What the client asked for about resumption. */
export type ResumeAsk = { offered: boolean; ticket?: string };

export function resumeAsk(req: Request): ResumeAsk {
  const v = req.headers.get(RESUME_HEADER)?.trim();
  if (!v) return { offered: false };
  return v === "1" ? { offered: true } : { offered: true, ticket: v };
}

/** `resumeRefused`: the client asked to resume and was refused, by the decision or for its ticket (for the metrics). */
export type ResumeAuth = ClientAuth & { resumeOffered?: boolean; resuming?: ResumeTicket; resumeRefused?: "decision" | "ticket" };

/** `auth` as authorizeClient left it, with the resume the client asked for checked. */
export async function authorizeResume(store: Store, req: Request, auth: ClientAuth, metrics?: AuthorizeOptions["metrics"]): Promise<ResumeAuth> {
  const ask = resumeAsk(req);
  if (auth.reject) return ask.ticket ? { ...auth, resumeRefused: "decision" } : auth;
  if (!ask.offered) return auth;
  if (!ask.ticket) return { ...auth, resumeOffered: true };
  const t = await verifyResumeTicket(store, ask.ticket, { identity: auth.identity, app: auth.app ?? auth.host, host: auth.host });
  if ("reason" in t) return { ...(await refuseWith(store, auth, { code: Close.notResumable, reason: `resume refused: ${t.reason}` }, metrics)), resumeRefused: "ticket" };
  return { ...auth, resumeOffered: true, resuming: t };
}

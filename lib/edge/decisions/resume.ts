// A client that resumes a stream is decided again like any other (its credentials, the
// policy, revocations: authorizeClient), and then its ticket must be one the edge issued for
// this identity, this application and hostname. Whether the ticket's cut was resumed already
// the connector decides, which holds the stream (lib/tunnel/resumable.ts).
import { verifyResumeTicket, type ResumeTicket } from "../../auth/resume-ticket.ts";
import { resumeGap, type Store } from "../../store/index.ts";
import { RESUME_HEADER } from "../../wire/client.ts";
import { Close } from "../../wire/close.ts";
import type { AuthorizeOptions, ClientAuth } from "./authorize.ts";

/** What the client asked for about resumption. */
export type ResumeAsk = { offered: boolean; ticket?: string };

export function resumeAsk(req: Request): ResumeAsk {
  const v = req.headers.get(RESUME_HEADER)?.trim();
  if (!v) return { offered: false };
  return v === "1" ? { offered: true } : { offered: true, ticket: v };
}

/** `resumeRefused`: the client asked to resume and was refused, by the decision or for its ticket (for the metrics). */
export type ResumeAuth = ClientAuth & { resumeOffered?: boolean; resuming?: ResumeTicket; resumeRefused?: "decision" | "ticket" };

/** authorizeClient for `req`, with the resume the client asked for checked before the decision
 * is audited: `authorize` runs authorizeClient with the `resume` option it is given. */
export async function authorizeResume(store: Store, req: Request, authorize: (resume?: AuthorizeOptions["resume"]) => Promise<ClientAuth>): Promise<ResumeAuth> {
  const ask = resumeAsk(req);
  const ticket = ask.ticket;
  if (!ticket) {
    const auth = await authorize();
    return ask.offered && !auth.reject ? { ...auth, resumeOffered: true } : auth;
  }
  let t: ResumeTicket | { reason: string } | undefined;
  const auth = await authorize(async (a) => {
    t = await verifyResumeTicket(store, ticket, { identity: a.identity, app: a.app ?? a.host, host: a.host });
    if ("reason" in t) return { code: Close.notResumable, reason: `resume refused: ${t.reason}` };
    // the first session of the stream: a ticket names it, whichever resume it was issued on
    return t.session ? { session: t.session, gapMs: await resumeGap(store, t.session) } : undefined;
  });
  if (auth.reject) return { ...auth, resumeRefused: t && "reason" in t ? "ticket" : "decision" };
  return { ...auth, resumeOffered: true, resuming: t as ResumeTicket };
}

// Resume tickets: what a client presents, with its credentials, to resume a stream after a
// cut (docs/resume.md). A JWT signed with the app-token keys in the store, so any node, or an
// edge restarted, can check it; bound to the stream's end-to-end id, the identity, the
// application (the audience) and the cut it may resume, and short-lived (the edge sends a
// fresh one while the stream lives). Single use per cut is the connector's: it holds the
// stream and takes each cut's number once (lib/tunnel/resumable.ts), wherever the ticket is
// presented.
import { errors, jwtVerify, SignJWT } from "jose";
import { APP_TOKEN_ALG, appKeys } from "./jwt.ts";
import type { Store } from "../store/index.ts";

export const TICKET_TYPE = "wicket-resume+jwt";
/** How long a ticket is good for; the edge sends a new one at half of it. */
export const TICKET_LIFETIME_MS = 10 * 60_000;

export interface ResumeTicket {
  /** The stream's end-to-end id, which the connector knows it by. */
  stream: string;
  /** The cut this ticket may resume: the first is 1. */
  cut: number;
  identity: string;
  /** The application (hostname or `*.zone`) and the hostname the client asked for. */
  app: string;
  host: string;
  /** The live session the stream began in, for audit. */
  session: string;
}

export async function signResumeTicket(store: Store, t: ResumeTicket, now = Date.now()): Promise<string> {
  const k = await appKeys(store);
  return new SignJWT({ rid: t.stream, cut: t.cut, host: t.host, sid: t.session })
    .setProtectedHeader({ alg: APP_TOKEN_ALG, kid: k.kid, typ: TICKET_TYPE })
    .setSubject(t.identity)
    .setAudience(`resume:${t.app}`)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor((now + TICKET_LIFETIME_MS) / 1000))
    .sign(k.privateKey);
}

/** The ticket's stream and cut when it is ours, unexpired, of this identity and application; else why not. */
export async function verifyResumeTicket(store: Store, token: string, want: { identity: string; app: string; host: string }): Promise<ResumeTicket | { reason: string }> {
  const k = await appKeys(store);
  try {
    const { payload: p } = await k.verify((v) => jwtVerify(token, v, { algorithms: [APP_TOKEN_ALG], typ: TICKET_TYPE, audience: `resume:${want.app}`, requiredClaims: ["exp", "sub", "rid", "cut"] }));
    if (p.sub !== want.identity) return { reason: "the ticket was issued to someone else" };
    if (p.host !== want.host) return { reason: "the ticket is for another hostname" };
    if (typeof p.rid !== "string" || !Number.isSafeInteger(p.cut) || (p.cut as number) < 1) return { reason: "the ticket is malformed" };
    return { stream: p.rid, cut: p.cut as number, identity: p.sub, app: want.app, host: want.host, session: String(p.sid ?? "") };
  } catch (e) {
    if (e instanceof errors.JWTExpired) return { reason: "the ticket has expired" };
    if (e instanceof errors.JWTClaimValidationFailed && e.claim === "aud") return { reason: "the ticket is for another application" };
    return { reason: "the ticket does not verify" };
  }
}

// Request bodies, read with a limit. Most of what the edge accepts comes from people nobody
// has authenticated yet, and Bun would otherwise buffer up to 128 MiB of each: a declared
// Content-Length over the limit is refused before a byte is read, and a body without one
// (chunked) is read only until it passes the limit.

const KiB = 1024;

export const BODY_LIMITS = {
  /** Any request at all, enforced by Bun before the router (`maxRequestBodySize`). */
  listener: 1024 * KiB,
  /** The admin API: a policy or a bulk change is a few hundred KiB at most. */
  admin: 512 * KiB,
  /** Sign-in forms and the OAuth endpoints: a few fields. */
  form: 16 * KiB,
  /** An SSH certificate request: one public key line. */
  sshCert: 16 * KiB,
} as const;

/** How long a body may take to arrive: 5 s, or longer for a large limit (the whole limit at
 * 8 KiB/s: the admin API's 512 KiB in 64 s). A sign-in form is a few hundred bytes and comes
 * with its headers; a client sending one byte now and then would otherwise hold its place as
 * long as it likes. */
export const bodyDeadlineMs = (limit: number) => Math.max(5_000, (limit / (8 * KiB)) * 1000);

/** Past the first BODY_GRACE_MS, a body must keep up 1 KiB/s on average (or be in whole, what
 * its Content-Length says): one packet lost and sent again is late by a second or so, a body
 * that dribbles a byte every two seconds is dropped after 2.5 s instead of holding its place
 * among the requests waiting for theirs (lib/edge/http/slow-bodies.ts) until the deadline. */
export const MIN_BODY_RATE = KiB;
export const BODY_GRACE_MS = 2_000;
/** How often a body's pace is checked. */
const PACE_CHECK_MS = 500;

/** A body the edge will not read: too large (413), or too slow to arrive (408). */
export class BodyRefused extends Error {
  constructor(
    readonly status: 408 | 413,
    message: string,
  ) {
    super(message);
  }
}

/** Requests whose body was refused: their answer closes the connection, whose unread rest
 * would otherwise keep it open (and a slow sender, its place) until the idle timeout. */
const refused = new WeakSet<Request>();
export const bodyRefused = (req: Request) => refused.has(req);

/** What the router does while a request waits for its body (lib/edge/http/routes.ts): given the
 * call that drops the request, it returns the call that ends the wait. */
export type BodyWait = (drop: () => void, sender?: string) => () => void;
const waits = new WeakMap<Request, BodyWait>();
export const onBodyWait = (req: Request, wait: BodyWait) => void waits.set(req, wait);
const verified = new WeakMap<Request, string>();
/** The sender of `req` is verified (an admin, a zone credential, an allowed client), and `sender`
 * names it: its body waits among the verified senders' (lib/edge/http/slow-bodies.ts), never
 * dropped for anonymous newcomers, and one sender's slow bodies drop only its own oldest, so a
 * tenant cannot hold the requests in progress. Call only once the credential is checked. */
export const senderVerified = (req: Request, sender: string) => void verified.set(req, sender);

const late = (ms: number) => new BodyRefused(408, `the request body did not arrive within ${ms / 1000} s; send it again, all at once`);
const slow = () => new BodyRefused(408, `the request body arrived slower than ${MIN_BODY_RATE / KiB} KiB/s; send it again, all at once`);
const dropped = () => new BodyRefused(408, "the request body was still arriving when the edge needed its place for newer requests; send it again, all at once");

/** The body as text; throws BodyRefused past `limit` bytes, past `deadlineMs`, or when it arrives too slowly. */
export async function readText(req: Request, limit: number, deadlineMs = bodyDeadlineMs(limit)): Promise<string> {
  const tooLarge = () => new BodyRefused(413, `the request body is larger than the ${limit / KiB} KiB this endpoint takes`);
  const declared = Number(req.headers.get("content-length"));
  if (declared > limit) throw (refused.add(req), tooLarge());
  if (!req.body) return "";
  const expected = declared > 0 ? declared : limit;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  let cut: BodyRefused | undefined;
  const stop = (why: BodyRefused) => {
    cut ??= why;
    reader.cancel().catch(() => {});
  };
  const started = performance.now();
  const deadline = setTimeout(() => stop(late(deadlineMs)), deadlineMs);
  const pace = setInterval(() => {
    if (size < Math.min(expected, (MIN_BODY_RATE * (performance.now() - started - BODY_GRACE_MS)) / 1000)) stop(slow());
  }, PACE_CHECK_MS);
  const endWait = waits.get(req)?.(() => stop(dropped()), verified.get(req));
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((e: unknown) => {
        if (cut) return { done: true, value: undefined };
        throw e;
      });
      if (!cut && !done && size + value.byteLength > limit) stop(tooLarge());
      if (cut) throw (refused.add(req), cut);
      if (done) break;
      size += value.byteLength;
      chunks.push(value);
    }
  } finally {
    clearTimeout(deadline);
    clearInterval(pace);
    endWait?.();
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The body as JSON; throws BodyRefused past `limit` bytes, SyntaxError when it is no JSON. */
export async function readJson(req: Request, limit: number): Promise<unknown> {
  return JSON.parse(await readText(req, limit));
}

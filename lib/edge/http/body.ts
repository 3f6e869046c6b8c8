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

/** How long a body may take to arrive: 10 s, or longer for a large limit (the whole limit at
 * 8 KiB/s). A client sending one byte now and then would otherwise hold its place among the
 * requests in progress for as long as it likes (lib/edge/http/handshakes.ts). */
export const bodyDeadlineMs = (limit: number) => Math.max(10_000, (limit / (8 * KiB)) * 1000);

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

/** The body as text; throws BodyRefused past `limit` bytes or `deadlineMs`. */
export async function readText(req: Request, limit: number, deadlineMs = bodyDeadlineMs(limit)): Promise<string> {
  const tooLarge = () => (refused.add(req), new BodyRefused(413, `the request body is larger than the ${limit / KiB} KiB this endpoint takes`));
  const declared = Number(req.headers.get("content-length"));
  if (declared > limit) throw tooLarge();
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    reader.cancel().catch(() => {});
  }, deadlineMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (late) {
        refused.add(req);
        throw new BodyRefused(408, `the request body did not arrive within ${deadlineMs / 1000} s`);
      }
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The body as JSON; throws BodyRefused past `limit` bytes, SyntaxError when it is no JSON. */
export async function readJson(req: Request, limit: number): Promise<unknown> {
  return JSON.parse(await readText(req, limit));
}

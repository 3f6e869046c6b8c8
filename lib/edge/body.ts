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

export class BodyTooLarge extends Error {
  readonly status = 413;
  constructor(readonly limit: number) {
    super(`the request body is larger than the ${limit / KiB} KiB this endpoint takes`);
  }
}

/** The body as text; throws BodyTooLarge past `limit` bytes. */
export async function readText(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get("content-length"));
  if (declared > limit) throw new BodyTooLarge(limit);
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw new BodyTooLarge(limit);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The body as JSON; throws BodyTooLarge past `limit` bytes, SyntaxError when it is no JSON. */
export async function readJson(req: Request, limit: number): Promise<unknown> {
  return JSON.parse(await readText(req, limit));
}

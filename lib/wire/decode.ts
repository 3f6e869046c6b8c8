// Takes WebSocket messages as they come (partial frames, several frames) and yields whole,
// checked frames. Anything malformed throws ProtocolError; it never reads out of bounds.
import { ProtocolError } from "./errors.ts";
import { FrameType, FRAME_TYPE_NAMES, HEADER_SIZE, MAX_PAYLOAD, type Frame, type HelloMeta, type OpenMeta } from "./frame.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Exact payload sizes, or a minimum where a text follows. */
const FIXED: Partial<Record<FrameType, number>> = { [FrameType.window]: 4, [FrameType.fin]: 0, [FrameType.ping]: 8, [FrameType.received]: 4 };
// an empty data frame carries nothing and costs the receiver a queued item: the end is a fin
const MINIMUM: Partial<Record<FrameType, number>> = { [FrameType.hello]: 2, [FrameType.reset]: 2, [FrameType.goAway]: 2, [FrameType.data]: 1 };
const ON_STREAM_ZERO = new Set<number>([FrameType.hello, FrameType.ping, FrameType.goAway, FrameType.received]);

function check(f: Frame): Frame {
  const name = FRAME_TYPE_NAMES[f.type];
  if (name === undefined) throw new ProtocolError(`unknown frame type ${f.type}`);
  const len = f.payload.byteLength;
  const fixed = FIXED[f.type];
  if (fixed !== undefined && len !== fixed) throw new ProtocolError(`${name} frame with ${len} payload bytes, expected ${fixed}`);
  const min = MINIMUM[f.type];
  if (min !== undefined && len < min) throw new ProtocolError(`${name} frame too short (${len} bytes)`);
  if (ON_STREAM_ZERO.has(f.type) !== (f.stream === 0)) throw new ProtocolError(`${name} frame on stream ${f.stream}`);
  return f;
}

export interface Decoder {
  /** Feeds one chunk; returns the frames it completed. */
  push(chunk: Uint8Array): Frame[];
  /** Bytes held for an incomplete frame. */
  readonly pending: number;
}

/** The header at `off` of `buf`, which holds at least HEADER_SIZE bytes from there. */
function header(buf: Uint8Array, off: number) {
  const view = new DataView(buf.buffer, buf.byteOffset + off, HEADER_SIZE);
  const length = view.getUint32(6);
  if (length > MAX_PAYLOAD) throw new ProtocolError(`frame of ${length} bytes exceeds the ${MAX_PAYLOAD}-byte limit`);
  return { type: buf[off] as FrameType, flags: buf[off + 1]!, stream: view.getUint32(2), length };
}

/** Messages up to this size may be held whole by the frames cut from them. */
const PIN_LIMIT = 512 * 1024;

const frame = (h: ReturnType<typeof header>, payload: Uint8Array): Frame => check({ type: h.type, flags: h.flags, stream: h.stream, payload });

export function createDecoder(): Decoder {
  // An incomplete frame waits in `acc` (its first `len` bytes used). A chunk is appended in
  // place, and `acc` is sized for the whole frame once its header is in, so a frame trickled in
  // tiny pieces costs time linear in its size, not a copy of everything pending per piece.
  let acc = new Uint8Array(0);
  let len = 0;

  /** Whole frames from `buf`; returns how many bytes they took. */
  function parse(buf: Uint8Array, frames: Frame[]): number {
    let off = 0;
    while (buf.byteLength - off >= HEADER_SIZE) {
      const h = header(buf, off);
      if (buf.byteLength - off < HEADER_SIZE + h.length) break;
      const payload = buf.subarray(off + HEADER_SIZE, off + HEADER_SIZE + h.length);
      // a small frame out of a large message is copied: held in a queue, a view would keep the
      // whole message alive (a peer could pin megabytes with a byte each)
      frames.push(frame(h, buf.byteLength > PIN_LIMIT && h.length * 8 < buf.byteLength ? payload.slice() : payload));
      off += HEADER_SIZE + h.length;
    }
    return off;
  }

  /** Keeps an incomplete tail in a buffer of its own (frames handed out may point into the old one).
   * A header alone is kept alone: its payload most often comes whole in the next chunk (the edge
   * corks a header and its payload as two messages), and is then taken from there uncopied. */
  function keep(tail: Uint8Array) {
    const size = tail.byteLength > HEADER_SIZE ? HEADER_SIZE + header(tail, 0).length : HEADER_SIZE;
    acc = new Uint8Array(Math.max(size, tail.byteLength));
    acc.set(tail);
    len = tail.byteLength;
  }

  function append(chunk: Uint8Array) {
    const needed = len + chunk.byteLength;
    if (needed > acc.byteLength) {
      // the whole frame once its header is in, else double: each byte is copied about twice
      const whole = len >= HEADER_SIZE ? HEADER_SIZE + header(acc, 0).length : 0;
      const grown = new Uint8Array(Math.max(needed, whole, acc.byteLength * 2));
      grown.set(acc.subarray(0, len));
      acc = grown;
    }
    acc.set(chunk, len);
    len = needed;
  }

  return {
    get pending() {
      return len;
    },
    push(chunk) {
      const frames: Frame[] = [];
      // A header that came alone, and its payload at the start of this chunk (a sender that
      // writes them as two messages): the payload is taken from the chunk as it is, uncopied.
      if (len === HEADER_SIZE) {
        const h = header(acc, 0);
        if (chunk.byteLength >= h.length) {
          frames.push(frame(h, chunk.subarray(0, h.length)));
          chunk = chunk.subarray(h.length);
          len = 0;
        }
      }
      if (len === 0) {
        // nothing pending: frames point into the caller's chunk; only a tail is copied
        const used = parse(chunk, frames);
        if (used < chunk.byteLength) keep(chunk.subarray(used));
        return frames;
      }
      append(chunk);
      if (len >= HEADER_SIZE && len >= HEADER_SIZE + header(acc, 0).length) {
        const buf = acc.subarray(0, len);
        const used = parse(buf, frames);
        len = 0;
        if (used < buf.byteLength) keep(buf.subarray(used));
        else acc = new Uint8Array(0);
      }
      return frames;
    },
  };
}

export const readU32 = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0);
export const readU16 = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset, p.byteLength).getUint16(0);

/** The u16 code and UTF-8 text of hello, reset and go-away frames. */
export function readCodeAndText(p: Uint8Array): { code: number; text: string } {
  try {
    return { code: readU16(p), text: utf8.decode(p.subarray(2)) };
  } catch {
    throw new ProtocolError("frame text is not valid UTF-8");
  }
}

function readObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolError(`${what} metadata is not JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ProtocolError(`${what} metadata is not a JSON object`);
  return v as Record<string, unknown>;
}

const optional = (v: Record<string, unknown>, key: string, type: "string" | "number" | "boolean", what: string) => {
  if (v[key] !== undefined && typeof v[key] !== type) throw new ProtocolError(`${what} metadata: ${key} is not a ${type}`);
};

/** An open frame's metadata, checked: a peer's bad metadata is a protocol error, not a crash later. */
export function readOpenMeta(p: Uint8Array): OpenMeta {
  const v = readObject(utf8.decode(p), "open");
  for (const key of ["host", "client", "identity"]) if (typeof v[key] !== "string") throw new ProtocolError(`open metadata: ${key} is not a string`);
  optional(v, "session", "string", "open");
  const meta: OpenMeta = { host: v.host as string, client: v.client as string, identity: v.identity as string };
  if (v.session !== undefined) meta.session = v.session as string;
  if (v.resume !== undefined) {
    const r = v.resume as Record<string, unknown> | null;
    if (typeof r !== "object" || r === null || typeof r.id !== "string" || !Number.isSafeInteger(r.cut) || (r.cut as number) < 0) throw new ProtocolError("open metadata: resume is not {id, cut}");
    if (r.graceMs !== undefined && (!Number.isSafeInteger(r.graceMs) || (r.graceMs as number) < 0)) throw new ProtocolError("open metadata: resume.graceMs is not a whole number of milliseconds");
    meta.resume = { id: r.id, cut: r.cut as number, ...(r.graceMs !== undefined ? { graceMs: r.graceMs as number } : {}) };
  }
  return meta;
}

/** A hello frame: the peer's protocol version and its checked metadata. */
export function readHello(p: Uint8Array): { version: number; meta: HelloMeta } {
  const { code: version, text } = readCodeAndText(p);
  const v = text ? readObject(text, "hello") : {};
  for (const key of ["connector", "edge"]) optional(v, key, "string", "hello");
  optional(v, "index", "number", "hello");
  optional(v, "received", "boolean", "hello");
  optional(v, "resume", "boolean", "hello");
  if (v.hostnames !== undefined && !(Array.isArray(v.hostnames) && v.hostnames.every((h) => typeof h === "string"))) throw new ProtocolError("hello metadata: hostnames is not a list of names");
  return { version, meta: v as HelloMeta };
}

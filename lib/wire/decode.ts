// Takes WebSocket messages as they come (partial frames, several frames) and yields whole,
// checked frames. Anything malformed throws ProtocolError; it never reads out of bounds.
import { ProtocolError } from "./errors.ts";
import { FrameType, FRAME_TYPE_NAMES, HEADER_SIZE, MAX_PAYLOAD, type Frame } from "./frame.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Exact payload sizes, or a minimum where a text follows. */
const FIXED: Partial<Record<FrameType, number>> = { [FrameType.window]: 4, [FrameType.fin]: 0, [FrameType.ping]: 8, [FrameType.received]: 4 };
const MINIMUM: Partial<Record<FrameType, number>> = { [FrameType.hello]: 2, [FrameType.reset]: 2, [FrameType.goAway]: 2 };
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

const frame = (h: ReturnType<typeof header>, payload: Uint8Array): Frame => check({ type: h.type, flags: h.flags, stream: h.stream, payload });

export function createDecoder(): Decoder {
  let buf: Uint8Array = new Uint8Array(0);
  return {
    get pending() {
      return buf.byteLength;
    },
    push(chunk) {
      const frames: Frame[] = [];
      // A header that came alone, and its payload at the start of this chunk (a sender that
      // writes them as two messages): the payload is taken from the chunk as it is, uncopied.
      if (buf.byteLength === HEADER_SIZE) {
        const h = header(buf, 0);
        if (chunk.byteLength >= h.length) {
          frames.push(frame(h, chunk.subarray(0, h.length)));
          chunk = chunk.subarray(h.length);
          buf = new Uint8Array(0);
        }
      }
      buf = buf.byteLength === 0 ? chunk : concat(buf, chunk);
      let off = 0;
      while (buf.byteLength - off >= HEADER_SIZE) {
        const h = header(buf, off);
        if (buf.byteLength - off < HEADER_SIZE + h.length) break;
        frames.push(frame(h, buf.subarray(off + HEADER_SIZE, off + HEADER_SIZE + h.length)));
        off += HEADER_SIZE + h.length;
      }
      // keep only the incomplete tail, copied so the caller's chunk can be reused
      buf = off === buf.byteLength ? new Uint8Array(0) : off === 0 && buf !== chunk ? buf : buf.slice(off);
      return frames;
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
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

export function readJson<T>(p: Uint8Array): T {
  try {
    const v = JSON.parse(utf8.decode(p));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as T;
  } catch {
    throw new ProtocolError("frame metadata is not a JSON object");
  }
}

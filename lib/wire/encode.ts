import { Flag, FrameType, HEADER_SIZE, MAX_PAYLOAD, type Frame } from "./frame.ts";

const utf8 = new TextEncoder();

/** Writes the header of a frame with `length` payload bytes at the start of `out`. */
function writeHeader(out: Uint8Array, type: FrameType, flags: number, stream: number, length: number): Uint8Array {
  if (length > MAX_PAYLOAD) throw new RangeError(`frame payload of ${length} bytes exceeds ${MAX_PAYLOAD}`);
  const view = new DataView(out.buffer, out.byteOffset, HEADER_SIZE);
  out[0] = type;
  out[1] = flags;
  view.setUint32(2, stream >>> 0);
  view.setUint32(6, length);
  return out;
}

export function encodeFrame(type: FrameType, flags: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  // allocUnsafe: every byte is written below, and zero-filling 64 KiB frames showed in profiles
  const out = writeHeader(Buffer.allocUnsafe(HEADER_SIZE + payload.byteLength), type, flags, stream, payload.byteLength);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** The header alone of a data frame whose payload is sent right behind it (the decoder takes
 * such a payload uncopied). */
export const dataHeader = (stream: number, length: number) => writeHeader(new Uint8Array(HEADER_SIZE), FrameType.data, 0, stream, length);

export const encode = (f: Frame) => encodeFrame(f.type, f.flags, f.stream, f.payload);

function codeAndText(code: number, text: string): Uint8Array {
  const t = utf8.encode(text);
  const out = new Uint8Array(2 + t.byteLength);
  new DataView(out.buffer).setUint16(0, code);
  out.set(t, 2);
  return out;
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export const helloFrame = (version: number, meta: object, ack = false) =>
  encodeFrame(FrameType.hello, ack ? Flag.ack : 0, 0, codeAndText(version, JSON.stringify(meta)));
export const openFrame = (stream: number, meta: object) => encodeFrame(FrameType.open, 0, stream, utf8.encode(JSON.stringify(meta)));
export const dataFrame = (stream: number, bytes: Uint8Array) => encodeFrame(FrameType.data, 0, stream, bytes);
export const windowFrame = (stream: number, credit: number) => encodeFrame(FrameType.window, 0, stream, u32(credit));
export const receivedFrame = (bytes: number) => encodeFrame(FrameType.received, 0, 0, u32(bytes));
export const finFrame = (stream: number) => encodeFrame(FrameType.fin, 0, stream);
export const resetFrame = (stream: number, code: number, reason: string) => encodeFrame(FrameType.reset, 0, stream, codeAndText(code, reason.slice(0, 200)));
export const pingFrame = (opaque: Uint8Array, ack = false) => encodeFrame(FrameType.ping, ack ? Flag.ack : 0, 0, opaque);
export const goAwayFrame = (code: number, reason: string) => encodeFrame(FrameType.goAway, 0, 0, codeAndText(code, reason.slice(0, 200)));

// The end-to-end protocol of a resumable stream (docs/resume.md): what the client and the
// connector say to each other through the edge, which relays it as opaque bytes. It rides
// inside the stream's bytes (the client's binary WebSocket messages, the mux stream's data), so
// an edge that is restarted, or another node, relays it without knowing it.
//
// A record is a 5-byte header (type, payload length) and its payload:
//   data    the next bytes of the sender's stream (numbered implicitly, from 0);
//   ack     u64 bytes received so far and u8 whether the peer's end arrived: the sender may
//           forget what was acknowledged;
//   end     the sender will send no more (half-close); said again after every resume;
//   resume  u64 bytes received so far: the first record on a new path after a cut; the
//           peer replays from there.
// A path (one WebSocket, one mux stream) starts on a record boundary; a record cut short by a
// broken path is lost with it and replayed whole.
import { ProtocolError } from "../wire/errors.ts";

export const RecordType = { data: 0, ack: 1, end: 2, resume: 3 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const RECORD_HEADER = 5;
/** Data records are cut to this size; a larger one is the peer's protocol error. */
export const MAX_RECORD = 256 * 1024;

export type ResumeRecord =
  | { type: typeof RecordType.data; bytes: Uint8Array }
  | { type: typeof RecordType.ack; received: number; ended: boolean }
  | { type: typeof RecordType.end }
  | { type: typeof RecordType.resume; received: number };

function record(type: RecordType, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER + payload.byteLength);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, RECORD_HEADER);
  return out;
}

function offset(n: number, extra = 0): Uint8Array {
  const out = new Uint8Array(8 + extra);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

export const dataRecord = (bytes: Uint8Array) => record(RecordType.data, bytes);
export const endRecord = () => record(RecordType.end, new Uint8Array(0));
export const resumeRecord = (received: number) => record(RecordType.resume, offset(received));
export function ackRecord(received: number, ended: boolean): Uint8Array {
  const p = offset(received, 1);
  p[8] = ended ? 1 : 0;
  return record(RecordType.ack, p);
}

function parse(type: number, p: Uint8Array): ResumeRecord {
  const u64 = () => Number(new DataView(p.buffer, p.byteOffset, 8).getBigUint64(0));
  switch (type) {
    case RecordType.data:
      if (p.byteLength === 0) throw new ProtocolError("an empty data record");
      return { type, bytes: p };
    case RecordType.ack:
      if (p.byteLength !== 9) throw new ProtocolError(`an ack record of ${p.byteLength} bytes`);
      return { type, received: u64(), ended: p[8] === 1 };
    case RecordType.end:
      if (p.byteLength !== 0) throw new ProtocolError(`an end record of ${p.byteLength} bytes`);
      return { type };
    case RecordType.resume:
      if (p.byteLength !== 8) throw new ProtocolError(`a resume record of ${p.byteLength} bytes`);
      return { type, received: u64() };
    default:
      throw new ProtocolError(`unknown resume record type ${type}`);
  }
}

/** Takes a path's bytes as they come (any split) and yields whole records. */
export function createRecordDecoder() {
  let pending = new Uint8Array(0);
  return {
    push(chunk: Uint8Array): ResumeRecord[] {
      let buf = chunk;
      if (pending.byteLength > 0) {
        buf = new Uint8Array(pending.byteLength + chunk.byteLength);
        buf.set(pending);
        buf.set(chunk, pending.byteLength);
      }
      const out: ResumeRecord[] = [];
      let off = 0;
      while (buf.byteLength - off >= RECORD_HEADER) {
        const len = new DataView(buf.buffer, buf.byteOffset + off, RECORD_HEADER).getUint32(1);
        if (len > MAX_RECORD) throw new ProtocolError(`a resume record of ${len} bytes exceeds ${MAX_RECORD}`);
        if (buf.byteLength - off < RECORD_HEADER + len) break;
        // copied: a view would pin the whole message while its bytes wait in a queue
        out.push(parse(buf[off]!, buf.slice(off + RECORD_HEADER, off + RECORD_HEADER + len)));
        off += RECORD_HEADER + len;
      }
      pending = buf.slice(off);
      return out;
    },
  };
}

// How a recording's events are stored, and how they become asciicast v2 again. An event is its
// bytes behind a 13-byte head: the code ("o" output, "i" input, "r" resize, "m" marker), the
// time in seconds (float64) and the length (uint32), all big-endian.
//
// Why not the asciicast lines themselves, as before: a line is JSON, and JSON escapes each
// control byte as six characters (\u0000), so output that is mostly control bytes (a NUL
// stream, a binary catted to the terminal, dense escape sequences) took up to six times its
// size in the store; and the bytes were decoded as UTF-8 when they arrived. Stored as bytes,
// a recording is the size of what was said plus 13 bytes an event; the export decodes it as
// the recorder did before (one streaming UTF-8 decoder for output, one for input, U+FFFD for
// what is not UTF-8), so an exported recording reads as one written by the previous release.

export type EventCode = "o" | "i" | "r" | "m";
export const EVENT_HEAD = 13;

/** One event as stored. */
export function encodeEvent(seconds: number, code: EventCode, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(EVENT_HEAD + payload.byteLength);
  const v = new DataView(out.buffer);
  v.setUint8(0, code.charCodeAt(0));
  v.setFloat64(1, Math.round(seconds * 1e6) / 1e6);
  v.setUint32(9, payload.byteLength);
  out.set(payload, EVENT_HEAD);
  return out;
}

const CODES = new Set(["o", "i", "r", "m"]);

/** Turns stored chunks into asciicast v2 event lines, in order; keeps the UTF-8 decoders' state
 * from one chunk to the next (an event may end inside a character). */
export function castLines(): (events: Uint8Array) => string {
  const text = { o: new TextDecoder("utf-8", { fatal: false }), i: new TextDecoder("utf-8", { fatal: false }) };
  const whole = new TextDecoder("utf-8", { fatal: false });
  return (events) => {
    const v = new DataView(events.buffer, events.byteOffset, events.byteLength);
    let out = "";
    for (let at = 0; at + EVENT_HEAD <= events.byteLength; ) {
      const code = String.fromCharCode(v.getUint8(at));
      const seconds = v.getFloat64(at + 1);
      const n = v.getUint32(at + 9);
      const payload = events.subarray(at + EVENT_HEAD, at + EVENT_HEAD + n);
      at += EVENT_HEAD + n;
      if (!CODES.has(code)) continue; // a code of a later release: skipped, the rest still reads
      const data = code === "o" || code === "i" ? text[code].decode(payload, { stream: true }) : whole.decode(payload);
      out += JSON.stringify([seconds, code, data]) + "\n";
    }
    return out;
  };
}

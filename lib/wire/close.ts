// WebSocket close codes between the client and the edge, and between connector and edge.
// Each maps to one sentence and one exit code on the client (closeError in lib/wire/client.ts).
export const Close = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  /** Never sent: what a peer sees when a close frame carried no code. */
  noStatus: 1005,
  /** Never sent: what a peer sees when the connection ended without a close frame. */
  abnormal: 1006,
  /** A message larger than the other end takes. */
  tooBig: 1009,
  internal: 1011,
  /** The peer stopped answering pings: the connection is dropped without a handshake. */
  keepaliveTimeout: 4000,
  badRequest: 4400,
  unauthenticated: 4401,
  denied: 4403,
  unknownHost: 4404,
  /** A resume that cannot be: the stream is gone (grace over), or its ticket was used or is not this client's. */
  notResumable: 4410,
  versionMismatch: 4426,
  noConnector: 4502,
  /** The edge cannot do what it must first (write the audit): try again later. */
  unavailable: 4503,
  originUnreachable: 4504,
} as const;

/** The longest close reason a WebSocket close frame carries, in bytes of UTF-8. */
export const MAX_CLOSE_REASON = 123;

/** A close reason that fits the frame: longer text is cut at a character boundary and ends in "…". */
export function closeReason(text: string): string {
  const enc = new TextEncoder();
  if (enc.encode(text).byteLength <= MAX_CLOSE_REASON) return text;
  let out = "";
  let size = 3; // "…" is three bytes
  for (const ch of text) {
    const n = enc.encode(ch).byteLength;
    if (size + n > MAX_CLOSE_REASON) break;
    out += ch;
    size += n;
  }
  return out + "…";
}

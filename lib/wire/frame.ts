// The connector <-> edge framing: many streams over one WebSocket (DESIGN.md, Wire).
// A frame is a 10-byte header (type, flags, stream id, payload length) and its payload.
// Frames may be split across or packed into WebSocket messages; the decoder does not care.

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 10;
/** Largest payload a peer may send; anything larger is a protocol error. */
export const MAX_PAYLOAD = 1 << 20;
/** DATA frames are cut to this size so a bulk copy interleaves with other streams (under a
 * millisecond each at the speeds measured; 64 KiB cost 5-8 % more CPU per byte, in more messages). */
export const MAX_DATA_CHUNK = 256 * 1024;
/** Per-stream credit a receiver grants at open, and every peer assumes: more than the 2 MiB SSH
 * keeps in flight. Receivers grow it with the path (lib/wire/window.ts). */
export const INITIAL_WINDOW = 2 * 1024 * 1024;

export const FrameType = {
  hello: 0, // stream 0: u16 version, JSON metadata; flag ACK in the edge's answer
  open: 1, // edge -> connector: a new stream, JSON metadata (hostname, client)
  data: 2, // raw bytes, counted against the receiver's window
  window: 3, // u32 credit added to the sender's window
  fin: 4, // half-close: the sender will send no more data on this stream
  reset: 5, // u16 code, UTF-8 reason: the stream is gone both ways
  ping: 6, // stream 0: 8 opaque bytes; flag ACK in the answer
  goAway: 7, // stream 0: u16 code, UTF-8 reason: no new streams on this connection
  received: 8, // stream 0: u32 data bytes read off the connection since the last one (only to a peer whose hello offered it)
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
export const FRAME_TYPE_NAMES = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k])) as Record<number, string>;

export const Flag = { ack: 1 } as const;

export interface Frame {
  type: FrameType;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** An open frame's metadata: what the edge tells a connector about a new stream. */
export interface OpenMeta {
  /** The application hostname the client asked for. */
  host: string;
  /** The client's address as the edge saw it. */
  client: string;
  /** Who the client is (an e-mail, or a service token's name). */
  identity: string;
  /** The live session this stream belongs to, for audit on the connector's side. */
  session?: string;
  /** A resumable stream (lib/resume/): its end-to-end id, which cut this open resumes (0: a
   * new stream), and how long the connector keeps the origin after a cut (the application's
   * `resume-grace`; absent: DEFAULT_RESUME_GRACE_MS). Sent only to a connector whose hello
   * offered resumption; one that predates `graceMs` ignores it and keeps its default. */
  resume?: { id: string; cut: number; graceMs?: number };
}

/** How long a connector keeps an origin whose stream broke, unless the application says. */
export const DEFAULT_RESUME_GRACE_MS = 120_000;
/** The longest grace an application may have: a resume ticket lives 10 minutes and is renewed
 * every 5 (lib/auth/resume-ticket.ts), so the client's last one is good for at least this long. */
export const MAX_RESUME_GRACE_MS = 5 * 60_000;

/** A hello's metadata. The connector's names what it serves; the edge's answer names the edge.
 * `received: true` offers received frames (lib/wire/pacer.ts). */
export interface HelloMeta {
  hostnames?: string[];
  connector?: string;
  index?: number;
  edge?: string;
  received?: boolean;
  /** The connector keeps origins across a cut and speaks resume records (lib/resume/). */
  resume?: boolean;
}

/** Codes carried by reset and go-away frames. */
export const ResetCode = {
  normal: 0,
  originUnreachable: 1,
  refused: 2,
  protocolError: 3,
  flowControl: 4,
  goingAway: 5,
  canceled: 6,
  internal: 7,
  /** The path broke, not the stream: a resumable stream's connector keeps its origin. */
  suspended: 8,
  /** A resume the connector cannot do: no such stream, its grace is over, or a stale cut. */
  notResumable: 9,
} as const;
export type ResetCode = (typeof ResetCode)[keyof typeof ResetCode];

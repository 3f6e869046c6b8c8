// A resumable stream on the connector's side: the origin's TCP connection and one end of the
// stream (lib/resume/end.ts) outlive the mux stream that carries them. When that stream breaks
// (its connection to the edge closed, or the edge says the client's path was lost), the origin
// is kept for the grace period (the application's, in the open's metadata); a stream the edge
// opens with `resume: {id, cut}` takes it over, each cut's number once, and both ends replay
// from the other's offset.
import { log } from "../cli/log.ts";
import { createResumeEnd, type ResumeEnd } from "../resume/end.ts";
import { ProtocolError } from "../wire/errors.ts";
import { DEFAULT_RESUME_GRACE_MS, ResetCode, type OpenMeta } from "../wire/frame.ts";
import type { Stream, StreamEvents } from "../wire/mux.ts";
import type { TunnelRoom } from "./room.ts";

interface Held {
  id: string;
  end: ResumeEnd;
  /** What the origin pump sees: the stream it was given. */
  local: Stream;
  path?: Stream;
  /** Data bytes delivered on `path` that the origin has not taken yet: its credit to return. */
  owed: number;
  pathFull: boolean;
  /** Cuts resumed so far: the next resume must name cut `cuts + 1`. */
  cuts: number;
  /** How long the origin is kept after a cut: the application's grace, as the last open said. */
  graceMs: number;
  grace?: Timer;
  over: boolean;
}

const held = new WeakMap<TunnelRoom, Map<string, Held>>();
const heldIn = (room: TunnelRoom) => held.get(room) ?? held.set(room, new Map()).get(room)!;

/** A path that breaks after the origin ended waits only this long for the client's resume:
 * what it may still need is the origin's last bytes, not a session. */
export const ORIGIN_ENDED_GRACE_MS = 10_000;

/** Ends every stream the connector holds (it stops); returns how many were waiting for a resume. */
export function endParked(room: TunnelRoom, reason: string): number {
  let n = 0;
  for (const h of [...heldIn(room).values()]) {
    if (!h.path) n++;
    finish(room, h, ResetCode.goingAway, reason);
  }
  return n;
}

/** Streams kept for a resume, for the gauges and the tests. */
export const parkedStreams = (room: TunnelRoom) => [...heldIn(room).values()].filter((h) => !h.path).length;

function finish(room: TunnelRoom, h: Held, code: number, reason: string) {
  if (h.over) return;
  h.over = true;
  clearTimeout(h.grace);
  heldIn(room).delete(h.id);
  const path = h.path;
  h.path = undefined;
  if (path && code !== ResetCode.normal) path.reset(code, reason);
  h.local.onClose?.(code, reason);
  room.changed();
}

function park(room: TunnelRoom, h: Held, why: string) {
  let graceMs = h.graceMs;
  h.path = undefined;
  h.end.detach();
  if (graceMs <= 0) return finish(room, h, ResetCode.goingAway, why);
  // the origin ended and the client has all it sent (ssh exited and took its ProxyCommand
  // with it): nothing is left that a resume could carry
  if (h.end.delivered) return finish(room, h, ResetCode.canceled, `the origin ended and the client has all of it; then ${why}`);
  if (h.end.ended) graceMs = Math.min(graceMs, ORIGIN_ENDED_GRACE_MS);
  log.info(`stream ${h.id} lost its path (${why}); keeping its origin for ${graceMs / 1000} s for the client to resume`);
  h.grace = setTimeout(() => finish(room, h, ResetCode.goingAway, `not resumed within ${graceMs / 1000} s`), graceMs);
  h.grace.unref(); // a connector that stops does not wait for its parked origins
  room.changed();
}

/** Puts `stream` under `h` as its path. */
function attach(room: TunnelRoom, h: Held, stream: Stream, resumed: boolean) {
  clearTimeout(h.grace);
  h.path = stream;
  h.owed = 0;
  h.pathFull = false;
  stream.onData = (chunk) => {
    const before = h.end.received;
    try {
      h.end.receive(chunk);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      return finish(room, h, ResetCode.protocolError, e.message);
    }
    // record headers and acks are the path's own: their credit goes back now
    const data = h.end.received - before;
    h.owed += data;
    if (chunk.byteLength > data) stream.ack(chunk.byteLength - data);
  };
  stream.onDrain = () => {
    h.pathFull = false;
    h.local.onDrain?.();
  };
  stream.onClose = (code, reason) => {
    if (h.path !== stream) return;
    if (h.end.done || code === ResetCode.normal) return finish(room, h, ResetCode.normal, "closed");
    if (code === ResetCode.suspended || code === ResetCode.goingAway) return park(room, h, reason);
    finish(room, h, code, reason);
  };
  h.end.attach({ send: (r) => void (stream.write(r) || (h.pathFull = true)) }, resumed);
  if (resumed) h.local.onDrain?.();
}

/** A new resumable stream: returns the stream to give the origin pump in its place. */
export function holdStream(room: TunnelRoom, stream: Stream, meta: OpenMeta & { resume: { id: string; graceMs?: number } }): Stream {
  const local: Stream & StreamEvents = {
    id: stream.id,
    meta,
    get bytesIn() {
      return h.end.received;
    },
    get bytesOut() {
      return h.end.sent;
    },
    write: (bytes) => h.end.write(bytes) && !h.pathFull && !!h.path,
    end() {
      h.end.end();
      // the origin ended while no client was there: what is left to carry is its last bytes
      if (!h.path && !h.over) {
        clearTimeout(h.grace);
        h.grace = setTimeout(() => finish(room, h, ResetCode.goingAway, "the origin ended and the client did not come back"), ORIGIN_ENDED_GRACE_MS);
        h.grace.unref();
      }
    },
    reset: (code, reason) => finish(room, h, code, reason),
    ack(n) {
      const give = Math.min(n, h.owed);
      h.owed -= give;
      if (give > 0) h.path?.ack(give);
    },
  };
  const h: Held = {
    id: meta.resume.id,
    local,
    owed: 0,
    pathFull: false,
    cuts: 0,
    graceMs: meta.resume.graceMs ?? DEFAULT_RESUME_GRACE_MS,
    over: false,
    end: createResumeEnd({
      deliver: (bytes) => local.onData?.(bytes),
      onEnd: () => local.onEnd?.(),
      onRoom: () => local.onDrain?.(),
      // the whole stream is over: the mux stream ends, and the edge closes the client's socket
      onDone: () => h.path?.end(),
    }),
  };
  heldIn(room).set(h.id, h);
  attach(room, h, stream, false);
  return local;
}

/** A stream the edge opened to resume `meta.resume`: takes the held origin over, or is refused. */
export function resumeStream(room: TunnelRoom, stream: Stream, meta: OpenMeta & { resume: { id: string; cut: number; graceMs?: number } }) {
  const h = heldIn(room).get(meta.resume.id);
  if (!h) return stream.reset(ResetCode.notResumable, "this connector holds no such stream (its grace period may be over)");
  if (meta.resume.cut !== h.cuts + 1) return stream.reset(ResetCode.notResumable, `this resume ticket was used already (cut ${meta.resume.cut}, expected ${h.cuts + 1})`);
  h.cuts = meta.resume.cut;
  // the application's grace may have changed meanwhile: the next cut gets the one it has now
  if (meta.resume.graceMs !== undefined) h.graceMs = meta.resume.graceMs;
  const old = h.path;
  // the old path may not know yet that it is dead (a NAT that rebinds): the client does
  if (old) {
    h.path = undefined;
    old.reset(ResetCode.canceled, "resumed on another path");
  }
  log.info(`stream ${h.id} resumed (cut ${h.cuts}) for ${meta.identity} from ${meta.client}`);
  attach(room, h, stream, true);
  room.changed();
}

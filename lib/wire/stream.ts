// One stream of a mux (lib/wire/mux.ts): its send queue and the credit the peer gave it, its
// receive window, half-close and reset. The connection owns the transport and decides whose
// turn it is to send (lib/wire/send-line.ts); a stream only knows what it may send.
//
// Flow control, the rule everything here follows: a byte is either on the transport, queued
// on a stream that told its writer to stop (write() returned false), or not yet read from its
// source. The receiver returns credit only once its sink took the bytes (ack), so a slow
// sink holds its own stream back and no other.
import { finFrame, resetFrame, windowFrame } from "./encode.ts";
import { MAX_DATA_CHUNK, ResetCode, type OpenMeta } from "./frame.ts";
import { ProtocolError } from "./errors.ts";
import type { ReceiveWindow } from "./window.ts";

export interface StreamEvents {
  /** Bytes from the peer; call ack(n) once they have left for the sink. */
  onData?(bytes: Uint8Array): void;
  /** The peer will send no more (half-close). */
  onEnd?(): void;
  /** The queue emptied after write() returned false: the source may resume. */
  onDrain?(): void;
  /** The stream is over: fully closed both ways, reset by either side, or the mux closed. */
  onClose?(code: number, reason: string): void;
}

export interface Stream extends StreamEvents {
  readonly id: number;
  readonly meta: OpenMeta;
  /** Queues bytes; false means stop reading the source until onDrain. */
  write(bytes: Uint8Array): boolean;
  /** Half-close after everything queued has gone. */
  end(): void;
  reset(code: number, reason: string): void;
  /** Returns credit for bytes the sink has taken. */
  ack(n: number): void;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** What a stream needs from its connection. */
export interface StreamHost {
  /** A control frame (window, fin, reset); dropped once the connection is closed. */
  send(frame: Uint8Array): void;
  sendData(id: number, bytes: Uint8Array): void;
  /** Whether the connection may take another data frame now (transport and pacer). */
  hasSpace(): boolean;
  /** Data bytes put on the transport, for the pacer. */
  sent(bytes: number): void;
  /** Sends what it can of the stream's queue, in turn with the others; true when it emptied. */
  serve(s: MuxStream): boolean;
  /** The stream has bytes and credit but no space: it waits for its turn (or no longer). */
  wait(s: MuxStream, waiting: boolean): void;
  /** The stream's receive window grew: it is looked at again when idle, to shrink it. */
  grew(s: MuxStream): void;
  /** The stream is over: forget it. */
  finished(s: MuxStream): void;
}

/** A stream as its connection sees it: the public stream, and what the peer's frames do to it. */
export interface MuxStream extends Stream {
  /** Bytes waiting to be sent. */
  readonly queued: number;
  /** Sends up to `limit` chunks within its credit and the connection's space; true when its queue emptied. */
  flush(limit?: number): boolean;
  /** The peer's frames for this stream. */
  peerData(payload: Uint8Array): void;
  peerCredit(n: number): void;
  peerEnd(): void;
  /** Gives back what its receive window grew by once its sink stopped taking bytes; true when it is back at its start. */
  shrinkIfIdle(): boolean;
  /** Ends the stream without a frame (the peer reset it, or the connection closed). */
  finish(code: number, reason: string): void;
}

/** `window` is ours, what we let the peer send; `credit`, what the peer lets us send, starts at
 * the size every peer assumes at open. */
export function createStream(id: number, meta: OpenMeta, host: StreamHost, window: ReceiveWindow, credit: number): MuxStream {
  let queue: Uint8Array[] = [];
  let queued = 0;
  let wantDrain = false;
  let localEnd = false; // end() called
  let finSent = false;
  let finReceived = false;
  let done = false;
  let bytesIn = 0;
  let bytesOut = 0;

  const maybeDone = () => {
    if (finSent && finReceived) s.finish(ResetCode.normal, "closed");
  };

  const s: MuxStream = {
    id,
    meta,
    get bytesIn() {
      return bytesIn;
    },
    get bytesOut() {
      return bytesOut;
    },
    get queued() {
      return queued;
    },
    write(bytes) {
      if (done || localEnd) return false;
      if (bytes.byteLength === 0) return true;
      queue.push(bytes);
      queued += bytes.byteLength;
      if (host.serve(s)) return true;
      wantDrain = true;
      return false;
    },
    end() {
      if (done || localEnd) return;
      localEnd = true;
      if (queued === 0) s.flush();
    },
    reset(code, reason) {
      if (done) return;
      host.send(resetFrame(id, code, reason));
      s.finish(code, reason);
    },
    ack(n) {
      if (done || n <= 0) return;
      const more = window.consumed(n);
      if (more === 0) return;
      host.send(windowFrame(id, more));
      if (window.size > window.initial) host.grew(s);
    },
    flush(limit = Infinity) {
      while (queued > 0 && credit > 0 && limit-- > 0 && host.hasSpace()) {
        const head = queue[0]!;
        const n = Math.min(head.byteLength, credit, MAX_DATA_CHUNK);
        if (n === head.byteLength) queue.shift();
        else queue[0] = head.subarray(n);
        queued -= n;
        credit -= n;
        bytesOut += n;
        host.sent(n);
        host.sendData(id, n === head.byteLength ? head : head.subarray(0, n));
      }
      // waiting for space: in line; waiting for credit: out of it until a window frame, so
      // streams stuck on slow sinks cost nothing to the others' writes
      host.wait(s, queued > 0 && credit > 0);
      if (queued > 0) return false;
      if (localEnd && !finSent) {
        finSent = true;
        host.send(finFrame(id));
        maybeDone();
      }
      if (wantDrain && !done) {
        wantDrain = false;
        s.onDrain?.();
      }
      return true;
    },
    peerData(payload) {
      if (finReceived) throw new ProtocolError(`data after end on stream ${id}`);
      if (!window.arrived(payload.byteLength)) return s.reset(ResetCode.flowControl, "peer exceeded the stream window");
      bytesIn += payload.byteLength;
      s.onData?.(payload);
    },
    peerCredit(n) {
      credit += n;
      if (queued > 0) host.serve(s);
    },
    peerEnd() {
      if (finReceived) return;
      finReceived = true;
      s.onEnd?.();
      maybeDone();
    },
    shrinkIfIdle: () => done || window.shrinkIfIdle(),
    finish(code, reason) {
      if (done) return;
      done = true;
      window.release();
      queue = [];
      queued = 0;
      host.finished(s);
      s.onClose?.(code, reason);
    },
  };
  return s;
}

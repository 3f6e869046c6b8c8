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
export const createStream = (id: number, meta: OpenMeta, host: StreamHost, window: ReceiveWindow, credit: number): MuxStream => new StreamState(id, meta, host, window, credit);

// A class, not a closure: its methods are shared, where a closure per stream cost 1.4 KiB more
// for each of 10,000 idle streams.
class StreamState implements MuxStream {
  onData?: StreamEvents["onData"];
  onEnd?: StreamEvents["onEnd"];
  onDrain?: StreamEvents["onDrain"];
  onClose?: StreamEvents["onClose"];
  bytesIn = 0;
  bytesOut = 0;
  queued = 0;
  private queue: Uint8Array[] = [];
  private wantDrain = false;
  private localEnd = false; // end() called
  private finSent = false;
  private finReceived = false;
  private done = false;

  constructor(
    readonly id: number,
    readonly meta: OpenMeta,
    private readonly host: StreamHost,
    private readonly window: ReceiveWindow,
    private credit: number,
  ) {}

  write(bytes: Uint8Array): boolean {
    if (this.done || this.localEnd) return false;
    if (bytes.byteLength === 0) return true;
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    if (this.host.serve(this)) return true;
    this.wantDrain = true;
    return false;
  }

  end() {
    if (this.done || this.localEnd) return;
    this.localEnd = true;
    if (this.queued === 0) this.flush();
  }

  reset(code: number, reason: string) {
    if (this.done) return;
    this.host.send(resetFrame(this.id, code, reason));
    this.finish(code, reason);
  }

  ack(n: number) {
    if (this.done || n <= 0) return;
    const more = this.window.consumed(n);
    if (more === 0) return;
    this.host.send(windowFrame(this.id, more));
    if (this.window.size > this.window.initial) this.host.grew(this);
  }

  flush(limit = Infinity): boolean {
    const { host } = this;
    while (this.queued > 0 && this.credit > 0 && limit-- > 0 && host.hasSpace()) {
      const head = this.queue[0]!;
      const n = Math.min(head.byteLength, this.credit, MAX_DATA_CHUNK);
      if (n === head.byteLength) this.queue.shift();
      else this.queue[0] = head.subarray(n);
      this.queued -= n;
      this.credit -= n;
      this.bytesOut += n;
      host.sent(n);
      host.sendData(this.id, n === head.byteLength ? head : head.subarray(0, n));
    }
    // waiting for space: in line; waiting for credit: out of it until a window frame, so
    // streams stuck on slow sinks cost nothing to the others' writes
    host.wait(this, this.queued > 0 && this.credit > 0);
    if (this.queued > 0) return false;
    if (this.localEnd && !this.finSent) {
      this.finSent = true;
      host.send(finFrame(this.id));
      this.maybeDone();
    }
    if (this.wantDrain && !this.done) {
      this.wantDrain = false;
      this.onDrain?.();
    }
    return true;
  }

  peerData(payload: Uint8Array) {
    if (this.finReceived) throw new ProtocolError(`data after end on stream ${this.id}`);
    if (!this.window.arrived(payload.byteLength)) return this.reset(ResetCode.flowControl, "peer exceeded the stream window");
    this.bytesIn += payload.byteLength;
    this.onData?.(payload);
  }

  peerCredit(n: number) {
    this.credit += n;
    if (this.queued > 0) this.host.serve(this);
  }

  peerEnd() {
    if (this.finReceived) return;
    this.finReceived = true;
    this.onEnd?.();
    this.maybeDone();
  }

  shrinkIfIdle(): boolean {
    return this.done || this.window.shrinkIfIdle();
  }

  finish(code: number, reason: string) {
    if (this.done) return;
    this.done = true;
    this.window.release();
    this.queue = [];
    this.queued = 0;
    this.host.finished(this);
    this.onClose?.(code, reason);
  }

  private maybeDone() {
    if (this.finSent && this.finReceived) this.finish(ResetCode.normal, "closed");
  }
}

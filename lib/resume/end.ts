// One end of a resumable stream (the client, or the connector): it numbers the bytes it sends,
// keeps those the peer has not acknowledged, and replays them from the peer's offset on a new
// path after a cut; it counts what it received so the peer can do the same. The path itself
// (a WebSocket, a mux stream) is the caller's: attach() one, detach() it when it breaks.
//
// The bound is flow control, not a cliff: at `bound` unacknowledged bytes write() says stop,
// as a full socket would, and the source waits for acknowledgements (or for the next path).
import { ProtocolError } from "../wire/errors.ts";
import { MAX_STREAM_WINDOW } from "../wire/window.ts";
import { ackRecord, createRecordDecoder, dataRecord, endRecord, MAX_RECORD, RecordType, resumeRecord, type ResumeRecord } from "./records.ts";

/** Unacknowledged bytes an end keeps for replay, per stream: what one stream may have on its
 * way at the speed its windows allow (MAX_STREAM_WINDOW, lib/wire/window.ts). Smaller, and the
 * bound rather than the path sets the pace: at 8 MiB a stream over a 100 ms round trip waited
 * for acknowledgements at 70 MiB/s of a 1 Gbit/s link. The bytes kept are the bytes in flight,
 * which the windows (and their budgets per connection and process) already bound. */
export const REPLAY_BOUND = MAX_STREAM_WINDOW;
/** A receiver acknowledges at least this often. */
export const ACK_EVERY = 128 * 1024;

export interface ResumePath {
  send(record: Uint8Array): void;
}

export interface ResumeEndOptions {
  bound?: number;
  ackEvery?: number;
  /** The peer's next bytes, for the local side. */
  deliver(bytes: Uint8Array): void;
  /** The peer will send no more. */
  onEnd(): void;
  /** write() said stop, and acknowledgements made room again. */
  onRoom?(): void;
  /** Both ends ended and the peer has ours: nothing is left to replay. */
  onDone?(): void;
}

export interface ResumeEnd {
  /** Starts sending on `path`. `resumed`: after a cut, offsets are swapped first, then the replay. */
  attach(path: ResumePath, resumed: boolean): void;
  detach(): void;
  /** Numbers, keeps and (when attached) sends bytes; false: stop the source until onRoom. */
  write(bytes: Uint8Array): boolean;
  end(): void;
  /** Bytes from the current path. Throws ProtocolError on a malformed record or offset. */
  receive(chunk: Uint8Array): void;
  readonly sent: number;
  readonly received: number;
  readonly unacked: number;
  readonly attached: boolean;
  /** Our end was said (end() was called). */
  readonly ended: boolean;
  /** Our end was said and the peer acknowledged it: it has every byte we will ever send. */
  readonly delivered: boolean;
  readonly done: boolean;
}

/** Forgets the first `n` bytes of `kept` (bytes the peer has). */
function dropFront(kept: Uint8Array[], n: number) {
  while (n > 0) {
    const head = kept[0]!;
    if (head.byteLength <= n) {
      kept.shift();
      n -= head.byteLength;
    } else {
      kept[0] = head.subarray(n);
      n = 0;
    }
  }
}

export function createResumeEnd(opts: ResumeEndOptions): ResumeEnd {
  const bound = opts.bound ?? REPLAY_BOUND;
  const ackEvery = opts.ackEvery ?? ACK_EVERY;
  const kept: Uint8Array[] = []; // bytes from `acked` to `sent`, in order
  let acked = 0;
  let sent = 0;
  let received = 0;
  let ackedUpTo = 0; // what our last ack told the peer
  let localEnd = false;
  let peerEnd = false;
  let peerHasOurEnd = false;
  let full = false;
  let done = false;
  let path: ResumePath | undefined;
  let ready = false; // attached, and the peer's offset is known
  let decoder = createRecordDecoder();

  const sendData = (bytes: Uint8Array) => {
    for (let o = 0; o < bytes.byteLength; o += MAX_RECORD) path!.send(dataRecord(bytes.subarray(o, o + MAX_RECORD)));
  };
  const sendAck = () => {
    ackedUpTo = received;
    path?.send(ackRecord(received, peerEnd));
  };
  const checkDone = () => {
    if (done || !(localEnd && peerEnd && peerHasOurEnd)) return;
    done = true;
    opts.onDone?.();
  };

  /** The peer has everything before `upTo`: forget it. */
  function trim(upTo: number) {
    if (upTo < acked || upTo > sent) throw new ProtocolError(`the peer acknowledged byte ${upTo}, outside ${acked}..${sent}`);
    dropFront(kept, upTo - acked);
    acked = upTo;
    if (full && sent - acked < bound) {
      full = false;
      opts.onRoom?.();
    }
  }

  function onResume(peerReceived: number) {
    trim(peerReceived);
    ready = true;
    for (const b of kept) sendData(b);
    if (localEnd) path!.send(endRecord());
  }

  function onRecord(r: ResumeRecord) {
    switch (r.type) {
      case RecordType.data:
        received += r.bytes.byteLength;
        opts.deliver(r.bytes);
        if (received - ackedUpTo >= ackEvery) sendAck();
        return;
      case RecordType.ack:
        trim(r.received);
        if (r.ended) peerHasOurEnd = true;
        return checkDone();
      case RecordType.end:
        if (!peerEnd) {
          peerEnd = true;
          opts.onEnd();
        }
        // said again after a resume: the peer may not have heard our ack of it
        sendAck();
        return checkDone();
      case RecordType.resume:
        if (ready) throw new ProtocolError("a second resume record on one path");
        return onResume(r.received);
    }
  }

  return {
    attach(p, resumed) {
      path = p;
      decoder = createRecordDecoder();
      if (resumed) {
        ready = false;
        ackedUpTo = received;
        p.send(resumeRecord(received));
      } else {
        // a first path: whatever was written before it goes now
        ready = true;
        for (const b of kept) sendData(b);
        if (localEnd) p.send(endRecord());
      }
    },
    detach() {
      path = undefined;
      ready = false;
    },
    write(bytes) {
      if (localEnd || bytes.byteLength === 0) return !full;
      const copy = bytes.slice(); // kept for replay: the caller may reuse its buffer
      kept.push(copy);
      sent += copy.byteLength;
      if (ready) sendData(copy);
      if (sent - acked >= bound) full = true;
      return !full;
    },
    end() {
      if (localEnd) return;
      localEnd = true;
      if (ready) path!.send(endRecord());
    },
    receive(chunk) {
      for (const r of decoder.push(chunk)) onRecord(r);
    },
    get sent() { return sent; },
    get received() { return received; },
    get unacked() { return sent - acked; },
    get attached() { return path !== undefined; },
    get ended() { return localEnd; },
    get delivered() { return localEnd && peerHasOurEnd; },
    get done() { return done; },
  };
}

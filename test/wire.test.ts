import { describe, expect, test } from "bun:test";
import { createDecoder, readCodeAndText, readU32 } from "../lib/wire/decode.ts";
import { dataFrame, encodeFrame, finFrame, goAwayFrame, helloFrame, openFrame, pingFrame, receivedFrame, resetFrame, windowFrame } from "../lib/wire/encode.ts";
import { ProtocolError } from "../lib/wire/errors.ts";
import { FrameType, HEADER_SIZE, INITIAL_WINDOW, MAX_DATA_CHUNK, MAX_PAYLOAD, type Frame } from "../lib/wire/frame.ts";
import { createMux, type Mux, type Stream } from "../lib/wire/mux.ts";
import { createPacer, fullQueueMs, PACER_CEILING, PACER_FLOOR, PATH_MEMORY_MS } from "../lib/wire/pacer.ts";
import { createBudget, createReceiveWindow, IDLE_MS, LEARNED_MS, MAX_STREAM_WINDOW, type WindowOptions } from "../lib/wire/window.ts";

/** A plain reference encoder, written without the module's helpers, to hold the codec against. */
function reference(type: number, flags: number, stream: number, payload: number[]): Uint8Array {
  const len = payload.length;
  return new Uint8Array([type, flags, (stream >>> 24) & 255, (stream >>> 16) & 255, (stream >>> 8) & 255, stream & 255, (len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, ...payload]);
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.byteLength) - p.byteLength);
  return out;
};

const sample = (): Uint8Array[] => [
  helloFrame(1, { hostnames: ["ssh.site.test"] }),
  openFrame(1, { host: "ssh.site.test", client: "127.0.0.1" }),
  dataFrame(1, crypto.getRandomValues(new Uint8Array(70_000))),
  windowFrame(1, 123_456),
  finFrame(1),
  resetFrame(3, 1, "cannot reach origin tcp://localhost:22"),
  pingFrame(new Uint8Array(8).fill(7)),
  pingFrame(new Uint8Array(8).fill(7), true),
  receivedFrame(65536),
  goAwayFrame(5, "edge is shutting down"),
  dataFrame(0xfffffffe, new Uint8Array(1)),
];

describe("frame codec", () => {
  test("encoder output equals the reference encoding", () => {
    expect(encodeFrame(FrameType.data, 0, 258, new Uint8Array([1, 2, 3]))).toEqual(reference(2, 0, 258, [1, 2, 3]));
    expect(windowFrame(7, 0x01020304)).toEqual(reference(3, 0, 7, [1, 2, 3, 4]));
    expect(finFrame(0xdeadbeef)).toEqual(reference(4, 0, 0xdeadbeef, []));
    expect(resetFrame(9, 0x0102, "no")).toEqual(reference(5, 0, 9, [1, 2, 110, 111]));
  });

  test("every frame survives a round trip, whole or split at every byte", () => {
    const frames = sample();
    const all = concat(frames);
    const whole = createDecoder().push(all);
    expect(whole.length).toBe(frames.length);
    whole.forEach((f, i) => expect(concat([reference(f.type, f.flags, f.stream, [...f.payload])])).toEqual(frames[i] as Uint8Array<ArrayBuffer>));
    for (const cut of [1, 3, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 1, 1000, 65_537]) {
      const d = createDecoder();
      const got: Frame[] = [];
      for (let i = 0; i < all.byteLength; i += cut) got.push(...d.push(all.slice(i, i + cut)));
      expect(got.map((f) => [f.type, f.stream, f.payload.byteLength])).toEqual(whole.map((f) => [f.type, f.stream, f.payload.byteLength]));
      expect(d.pending).toBe(0);
    }
  });

  test("payload fields read back as written", () => {
    const [w, r] = createDecoder().push(concat([windowFrame(1, 4_000_000), resetFrame(2, 3, "bad ünïcode ok")]));
    expect(readU32(w!.payload)).toBe(4_000_000);
    expect(readCodeAndText(r!.payload)).toEqual({ code: 3, text: "bad ünïcode ok" });
  });

  test("malformed frames are protocol errors", () => {
    const bad = [
      reference(99, 0, 1, []), // unknown type
      reference(FrameType.window, 0, 1, [1, 2]), // short window
      reference(FrameType.ping, 0, 0, [1]), // short ping
      reference(FrameType.ping, 0, 5, [0, 0, 0, 0, 0, 0, 0, 0]), // ping on a stream
      reference(FrameType.data, 0, 1, []).map((b, i) => (i === 6 ? 0xff : b)), // length over the limit
      reference(FrameType.reset, 0, 1, [0]), // no code
    ];
    for (const b of bad) expect(() => createDecoder().push(b)).toThrow(ProtocolError);
    expect(() => encodeFrame(FrameType.data, 0, 1, new Uint8Array(MAX_PAYLOAD + 1))).toThrow(RangeError);
  });

  test("random garbage yields frames or a ProtocolError, never anything else", () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let i = 0; i < 5000; i++) {
      const len = rand() % 64;
      const bytes = new Uint8Array(len).map(() => rand() & 255);
      if (len > 0) bytes[0] = rand() % 10; // mostly plausible types, to get past the first check
      if (len > 9) bytes[6] = bytes[7] = 0; // and plausible lengths
      try {
        createDecoder().push(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }
  });
});

describe("a frame sent as two messages (header, then payload)", () => {
  test("decodes whole, with the payload taken from the second message uncopied, and what follows it too", () => {
    const payload = crypto.getRandomValues(new Uint8Array(70_000));
    const whole = dataFrame(5, payload);
    const d = createDecoder();
    expect(d.push(whole.subarray(0, HEADER_SIZE))).toEqual([]);
    const second = new Uint8Array([...payload, ...finFrame(5)]);
    const frames = d.push(second);
    expect(frames.map((f) => f.type)).toEqual([FrameType.data, FrameType.fin]);
    expect(frames[0]!.payload.buffer).toBe(second.buffer); // a view into the message, not a copy
    expect(Buffer.from(frames[0]!.payload).equals(Buffer.from(payload))).toBe(true);
    expect(d.pending).toBe(0);
  }, 15_000); // generous: linear work takes well under a second, the old copying took minutes

  test("a payload that comes in pieces after its header is joined as before", () => {
    const payload = crypto.getRandomValues(new Uint8Array(1000));
    const whole = dataFrame(9, payload);
    const d = createDecoder();
    expect(d.push(whole.subarray(0, HEADER_SIZE))).toEqual([]);
    expect(d.push(whole.subarray(HEADER_SIZE, 500))).toEqual([]);
    const [f] = d.push(whole.subarray(500));
    expect(f!.stream).toBe(9);
    expect(Buffer.from(f!.payload).equals(Buffer.from(payload))).toBe(true);
  });

  test("a lone header then an empty message, then a message that is exactly its payload", () => {
    const payload = crypto.getRandomValues(new Uint8Array(300));
    const d = createDecoder();
    expect(d.push(dataFrame(3, payload).subarray(0, HEADER_SIZE))).toEqual([]);
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.pending).toBe(HEADER_SIZE);
    const [f, ...rest] = d.push(payload);
    expect(rest).toEqual([]);
    expect(f!.payload.buffer).toBe(payload.buffer);
    expect(Buffer.from(f!.payload).equals(Buffer.from(payload))).toBe(true);
    expect(d.pending).toBe(0);
  });

  test("a header alone announcing more than the limit is still a protocol error", () => {
    const d = createDecoder();
    const h = reference(FrameType.data, 0, 1, []);
    new DataView(h.buffer).setUint32(6, MAX_PAYLOAD + 1);
    expect(() => d.push(h)).toThrow(ProtocolError);
  });
});

describe("decoder under a trickle", () => {
  // Before, each piece copied everything pending: 1 MiB in 1-byte pieces was ~5e11 bytes of
  // copying and never finished within the test's time; now each byte is copied about twice.
  test("a 1 MiB frame sent one byte per push comes out whole, once", () => {
    const payload = fillBytes(MAX_PAYLOAD);
    const wire = dataFrame(7, payload);
    const d = createDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < wire.byteLength; i++) out.push(...d.push(wire.subarray(i, i + 1)));
    expect(out.length).toBe(1);
    expect(out[0]!.stream).toBe(7);
    expect(Buffer.compare(out[0]!.payload, payload)).toBe(0);
    expect(d.pending).toBe(0);
  });

  test("frames that straddle pieces of every size keep their bytes after later pushes", () => {
    const frames = Array.from({ length: 50 }, (_, i) => dataFrame(i + 1, fillBytes(1 + ((i * 7919) % 3000))));
    const wire = Buffer.concat(frames);
    for (const step of [1, 3, 9, 10, 11, 64, 4096]) {
      const d = createDecoder();
      const out: Frame[] = [];
      for (let i = 0; i < wire.byteLength; i += step) out.push(...d.push(Uint8Array.from(wire.subarray(i, i + step))));
      expect(out.map((f) => f.stream)).toEqual(frames.map((_, i) => i + 1));
      out.forEach((f, i) => expect(Buffer.compare(f.payload, frames[i]!.subarray(HEADER_SIZE))).toBe(0));
    }
  });
});

/** Bytes that differ from place to place, so a misplaced copy shows. */
function fillBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 8)) & 255;
  return b;
}

/** A valid open frame's metadata, for streams whose metadata the test does not look at. */
const META = { host: "ssh.site.test", client: "127.0.0.1", identity: "test@site.test" };

/** Two muxes wired back to back in memory, with a transport that can be held full. */
function pair() {
  const links = { edgeFull: false, connFull: false };
  let edge!: Mux;
  let conn!: Mux;
  const accepted: Stream[] = [];
  const queueE: Uint8Array[] = [];
  const edgeSend = (b: Uint8Array) => (links.edgeFull ? queueE.push(b) : conn.receive(b));
  edge = createMux({
    role: "opener",
    // as the edge's corked WebSocket does: a data frame's header and payload as two messages
    transport: { send: edgeSend, sendParts: (h, p) => (edgeSend(h), edgeSend(p)), buffered: () => (links.edgeFull ? 1 << 30 : 0), close() {} },
  });
  conn = createMux({
    role: "acceptor",
    transport: { send: (b) => edge.receive(b), buffered: () => 0, close() {} },
    onStream: (s) => accepted.push(s),
  });
  const release = () => {
    links.edgeFull = false;
    for (const b of queueE.splice(0)) conn.receive(b);
    edge.drained();
  };
  return { edge, conn, accepted, links, release };
}

describe("mux", () => {
  test("bytes flow both ways, and half-close then close ends the stream", () => {
    const { edge, accepted } = pair();
    const s = edge.open({ ...META, host: "a" });
    const got: number[] = [];
    let closed = "";
    s.onData = (b) => (got.push(...b), s.ack(b.byteLength));
    s.onClose = (_c, r) => (closed = r);
    const peer = accepted[0]!;
    const peerGot: number[] = [];
    let peerEnded = false;
    peer.onData = (b) => (peerGot.push(...b), peer.ack(b.byteLength));
    peer.onEnd = () => (peerEnded = true);
    expect(s.write(new Uint8Array([1, 2, 3]))).toBe(true);
    expect(peer.write(new Uint8Array([9]))).toBe(true);
    s.end();
    expect(peerEnded).toBe(true);
    expect(closed).toBe("");
    peer.end();
    expect(closed).toBe("closed");
    expect(peerGot).toEqual([1, 2, 3]);
    expect(got).toEqual([9]);
    expect(edge.streams.size).toBe(0);
  });

  test("a sender stops at the window and resumes when the receiver acks", () => {
    const { edge, accepted } = pair();
    const s = edge.open(META);
    const peer = accepted[0]!;
    let held = 0;
    peer.onData = (b) => (held += b.byteLength); // a sink that does not take the bytes yet
    let drained = 0;
    s.onDrain = () => drained++;
    const chunk = new Uint8Array(256 * 1024);
    let writes = 0;
    while (s.write(chunk)) writes++;
    expect(held).toBe(INITIAL_WINDOW);
    expect(writes).toBe(INITIAL_WINDOW / chunk.byteLength); // the window exactly, then a queued write
    peer.ack(held); // the sink took everything
    expect(drained).toBe(1);
    expect(held).toBe(INITIAL_WINDOW + chunk.byteLength);
  });

  test("a stream's bulk copy does not delay another stream's small write", () => {
    const { edge, accepted, links, release } = pair();
    const bulk = edge.open(META);
    const keys = edge.open(META);
    const order: string[] = [];
    accepted[0]!.onData = (b) => (order.push("bulk"), accepted[0]!.ack(b.byteLength));
    accepted[1]!.onData = (b) => (order.push("key"), accepted[1]!.ack(b.byteLength));
    links.edgeFull = true;
    bulk.write(new Uint8Array(4 * MAX_DATA_CHUNK)); // 4 chunks waiting
    keys.write(new Uint8Array([13]));
    release();
    expect(order.indexOf("key")).toBeLessThanOrEqual(1);
  });

  test("a peer overrunning the window gets its stream reset, others live on", () => {
    const { edge, conn, accepted } = pair();
    const a = edge.open(META);
    const b = edge.open(META);
    let reason = "";
    a.onClose = (_c, r) => (reason = r);
    // the connector side misbehaves: raw data frames past the window
    const big = new Uint8Array(64 * 1024);
    for (let i = 0; i <= INITIAL_WINDOW / big.byteLength; i++) edge.receive(dataFrame(a.id, big));
    expect(reason).toContain("window");
    expect(edge.streams.has(b.id)).toBe(true);
    expect(accepted.length).toBe(2);
  });

  test("an exception while handling a frame closes the mux with a protocol error, not half set up", () => {
    let closedWith: [number, string] | undefined;
    const s = createMux({
      role: "opener",
      transport: { send() {}, buffered: () => 0, close: (c, r) => (closedWith = [c, r]) },
      onHello() {
        throw new TypeError("cannot read properties of undefined");
      },
    });
    expect(() => s.receive(helloFrame(1, { hostnames: ["a.site.test"] }))).not.toThrow();
    expect(s.closed).toBe(true);
    expect(closedWith?.[0]).toBe(1002);
    expect(closedWith?.[1]).toContain("cannot read properties of undefined");
  });

  test("garbage from the peer closes the mux with a protocol error", () => {
    let closedWith = "";
    const s = createMux({ role: "opener", transport: { send() {}, buffered: () => 0, close: (_c, r) => (closedWith = r) } });
    s.receive(new Uint8Array([42, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(s.closed).toBe(true);
    expect(closedWith).toContain("protocol error");
  });
});

// Each failed before (from an attack review of what one connector can make the edge hold).
describe("a connector that abuses the wire", () => {
  test("an empty data frame is a protocol error: it would cost a queued item and count against no window", () => {
    expect(() => createDecoder().push(encodeFrame(FrameType.data, 0, 1, new Uint8Array(0)))).toThrow(ProtocolError);
  });

  test("a small frame cut from a large message does not hold the message", () => {
    const many = new Uint8Array(2 * 1024 * 1024);
    const one = dataFrame(1, new Uint8Array([7]));
    for (let off = 0; off + one.byteLength <= many.byteLength; off += one.byteLength) many.set(one, off);
    const frames = createDecoder().push(many);
    expect(frames.length).toBeGreaterThan(100_000);
    expect(frames.every((f) => f.payload.buffer !== many.buffer && f.payload[0] === 7)).toBe(true);
    // a data frame that is most of its message is handed on uncopied
    const big = dataFrame(1, new Uint8Array(MAX_DATA_CHUNK).fill(1));
    expect(createDecoder().push(big)[0]!.payload.buffer).toBe(big.buffer);
  });

  test("go-away said again and again is heard once", () => {
    let heard = 0;
    const m = createMux({ role: "opener", transport: { send() {}, buffered: () => 0, close() {} }, onGoAway: () => void heard++ });
    const flood = new Uint8Array(Array.from({ length: 1000 }, () => [...goAwayFrame(0, "bye")]).flat());
    m.receive(flood);
    expect(heard).toBe(1);
    expect(m.closed).toBe(false);
  });

  test("pings from a peer that does not read go unanswered once the answers pile up", () => {
    let sent = 0;
    let buffered = 0;
    const m = createMux({ role: "opener", transport: { send: (b) => void ((sent += 1), (buffered += b.byteLength * 100_000)), buffered: () => buffered, close() {} } });
    for (let i = 0; i < 1000; i++) m.receive(pingFrame(new Uint8Array(8)));
    expect(sent).toBeLessThan(1000);
    expect(sent).toBeGreaterThan(0);
  });
});

describe("pacing: what one connection keeps on its way to the peer", () => {
  test("the allowance starts at the floor, frees as the peer reports, doubles each round trip while delivery grows, settles at rate × (round trip + fullQueueMs) once the pipe is full, up to the ceiling", () => {
    let t = 0;
    const p = createPacer(() => t);
    expect(p.allowance).toBe(PACER_FLOOR);
    p.sent(PACER_FLOOR);
    expect(p.hasSpace()).toBe(false);
    p.delivered(64 * 1024);
    expect(p.hasSpace()).toBe(true);
    expect(p.allowance).toBe(PACER_FLOOR); // no round trip known yet: nothing to grow by
    // a long path: 50 ms round trips, 100 MB/s delivered
    p.rtt(50);
    const best = (10_000_000 + 64 * 1024) / 100; // bytes per ms: the first sample, with the 64 KiB before it
    t = 100;
    p.delivered(10_000_000);
    expect(p.allowance).toBeGreaterThanOrEqual(2 * best * 50);
    // rounds without more delivery in which the allowance did not hold the sender back (the
    // streams' windows did) do not say the pipe is full
    for (let i = 2; i <= 6; i++) {
      t = i * 100;
      p.delivered(10_000_000);
    }
    expect(p.allowance).toBeGreaterThan(best * (50 + fullQueueMs(50)));
    // three rounds in which the sender used the whole allowance, without more delivery: full
    for (let i = 7; i <= 9; i++) {
      p.sent(p.allowance);
      t = i * 100;
      p.delivered(10_000_000);
    }
    expect(p.allowance).toBe(best * (50 + fullQueueMs(50)));
    // round trips measured behind our own queued bytes do not raise it: the base stays 50 ms
    p.rtt(400);
    expect(p.allowance).toBe(best * (50 + fullQueueMs(50)));
    // a fast, long path is capped
    t += 100;
    p.delivered(10_000_000_000);
    expect(p.allowance).toBe(PACER_CEILING);
    // a reading that cannot be a round trip is ignored
    p.rtt(Number.NaN);
    p.rtt(-1);
    expect(p.allowance).toBe(PACER_CEILING);
  });

  test("after a pause the allowance starts at the pipe the path last carried (the median of its last samples) and grows as after a queue; a source too slow to fill it changes nothing; the pause is not a rate sample; after PATH_MEMORY_MS it starts from the floor", () => {
    let t = 0;
    const p = createPacer(() => t);
    p.rtt(50);
    // 40 MB/s, held back by the allowance (more was queued than any allowance): the pipe holds
    // 2 MB. The first sample began from idle (a round trip with nothing delivered yet) and is
    // not one of the path; a stall at a tenth of the rate among the others does not move it
    p.sent(PACER_CEILING);
    for (const bytes of [4_000_000, 4_000_000, 4_000_000, 400_000]) {
      t += 100;
      p.delivered(bytes);
      p.sent(bytes);
    }
    p.delivered(2 * PACER_CEILING); // the rest, at once: no sample (no time passed)
    t += 5_000; // nothing on the way for 5 s
    p.rtt(50);
    expect(p.allowance).toBe(40_000 * 50);
    // a typist's bytes are a rate sample, not one of the path: the allowance stays (each
    // delivered byte lets a quarter more go, as below)
    p.sent(1_000);
    t += 100;
    p.delivered(1_000);
    expect(p.allowance).toBe(40_000 * 50 + 250);
    // the next copy grows from there by a quarter a round trip, not by doubling
    const before = p.allowance;
    p.sent(2_000_000);
    t += 10;
    p.delivered(1_000_000);
    expect(p.allowance).toBe(before + 250_000);
    p.delivered(1_000_000);
    t += PATH_MEMORY_MS; // long forgotten
    p.rtt(50);
    expect(p.allowance).toBe(PACER_FLOOR);
    p.sent(2_000_000);
    t += 100;
    p.delivered(2_000_000); // 20 MB/s over the 100 ms the bytes were on the way, not 60 s
    expect(p.allowance).toBe(2 * 20_000 * 50);
  });

  /** A sender paced by a pacer over a link of `rttMs` whose queue holds what the link cannot
   * take yet. `run` goes on until `until` ms at `perMs` bytes a millisecond, and returns the
   * longest any frame waited in the queue after `from` ms, and the rate of its last second. */
  function pacedLink(rttMs: number) {
    const clock = { t: 0 };
    const p = createPacer(() => clock.t);
    p.rtt(rttMs);
    const frame = 64 * 1024;
    const inLink: { at: number; bytes: number }[] = [];
    let free = 0; // when the link is next free
    return {
      p,
      run(until: number, perMs: number, from = 0) {
        let longest = 0;
        let lastSecond = 0;
        for (; clock.t < until; clock.t++) {
          while (inLink.length > 0 && inLink[0]!.at <= clock.t) {
            const d = inLink.shift()!;
            if (clock.t >= until - 1000) lastSecond += d.bytes;
            p.delivered(d.bytes);
          }
          while (p.hasSpace()) {
            p.sent(frame);
            const start = Math.max(clock.t, free);
            if (clock.t >= from) longest = Math.max(longest, start - clock.t);
            free = start + frame / perMs;
            inLink.push({ at: free + rttMs, bytes: frame });
          }
        }
        return { longest, perMs: lastSecond / 1000 };
      },
    };
  }

  test("slow start that sees a run of queued bytes drains back to a quarter over the pipe and grows a quarter a round trip from there: a keystroke waits tens of milliseconds, not a window", () => {
    const link = pacedLink(50);
    // 50 MB/s over 50 ms: the pipe holds 2.5 MB. With rate samples alone the queue at its
    // longest was 150 ms (slow start up to four times the pipe before three rounds said full)
    const run = link.run(4_000, 50_000);
    expect(run.longest).toBeLessThan(70);
    expect(link.p.allowance).toBeGreaterThan(50_000 * 50);
    expect(link.p.allowance).toBeLessThan(50_000 * (50 + 1.5 * fullQueueMs(50)));
    expect(run.perMs).toBeGreaterThan(0.95 * 50_000);
    // and once settled, a keystroke waits about fullQueueMs
    expect(link.run(6_000, 50_000, 5_000).longest).toBeLessThan(2 * fullQueueMs(50));
  });

  /** An edge and a connector whose edge-to-connector bytes sit "on the wire" until delivered. */
  function wired(connectorHello: Record<string, unknown> | "new") {
    const wire: Uint8Array[] = [];
    let edge!: Mux;
    const accepted: Stream[] = [];
    edge = createMux({ role: "opener", transport: { send: (b) => void wire.push(b), buffered: () => 0, close() {} } });
    const conn = createMux({
      role: "acceptor",
      transport: { send: (b) => edge.receive(b), buffered: () => 0, close() {} },
      onStream: (s) => accepted.push(s),
    });
    if (connectorHello === "new") conn.hello({ hostnames: ["a.test"] });
    else edge.receive(helloFrame(1, connectorHello)); // an older connector: no received frames
    edge.hello({}, true);
    /** Data bytes on the wire now. */
    const onWire = () => wire.reduce((n, b) => n + (b[0] === FrameType.data ? b.byteLength - HEADER_SIZE : 0), 0);
    const deliver = () => {
      for (const b of wire.splice(0)) conn.receive(b);
    };
    return { edge, conn, accepted, onWire, deliver };
  }

  test("a bulk copy keeps at most the allowance on the wire, and every byte arrives in order", () => {
    const { edge, accepted, onWire, deliver } = wired("new");
    const s = edge.open(META);
    deliver(); // the open
    const peer = accepted[0]!;
    const got: Uint8Array[] = [];
    peer.onData = (b) => (got.push(b.slice()), peer.ack(b.byteLength));
    const total = 6 * 1024 * 1024;
    const sent = new Uint8Array(total).map((_, i) => i * 7);
    let offset = 0;
    let most = 0;
    const pump = () => {
      while (offset < total && s.write(sent.subarray(offset, offset + 256 * 1024))) offset += 256 * 1024;
    };
    s.onDrain = () => {
      offset += 256 * 1024; // the write that returned false was queued
      pump();
    };
    pump();
    for (let rounds = 0; got.reduce((n, b) => n + b.byteLength, 0) < total && rounds < 1000; rounds++) {
      most = Math.max(most, onWire());
      deliver();
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(PACER_FLOOR + MAX_DATA_CHUNK); // the last frame may cross it
    expect(Buffer.concat(got).equals(Buffer.from(sent))).toBe(true);
  });

  test("a keystroke waits behind the allowance, not behind the bulk copy's whole window", () => {
    const { edge, accepted, deliver } = wired("new");
    const bulk = edge.open(META);
    const keys = edge.open(META);
    deliver();
    const order: string[] = [];
    accepted[0]!.onData = (b) => (order.push("bulk"), accepted[0]!.ack(b.byteLength));
    accepted[1]!.onData = (b) => (order.push("key"), accepted[1]!.ack(b.byteLength));
    bulk.write(new Uint8Array(INITIAL_WINDOW)); // the allowance lets a quarter of it go
    keys.write(new Uint8Array([13]));
    deliver();
    deliver();
    expect(order.indexOf("key")).toBeGreaterThan(-1);
    expect(order.indexOf("key")).toBeLessThanOrEqual(PACER_FLOOR / MAX_DATA_CHUNK + 1);
  });

  test("bytes in flight for a stream the receiver already closed are still reported, so the connection does not stall", () => {
    const { edge, accepted, onWire, deliver } = wired("new");
    for (let round = 0; round < 4; round++) {
      const s = edge.open(META);
      deliver(); // the open
      const peer = accepted.at(-1)!;
      s.write(new Uint8Array(2 * PACER_FLOOR)); // the allowance's worth goes on the wire
      expect(onWire()).toBeGreaterThanOrEqual(PACER_FLOOR);
      peer.reset(6, "client went away"); // the receiver drops the stream with those bytes in flight
      deliver(); // they arrive for a stream it no longer has
    }
    const last = edge.open(META);
    deliver();
    let got = 0;
    accepted.at(-1)!.onData = (b) => {
      got += b.byteLength;
      accepted.at(-1)!.ack(b.byteLength);
    };
    last.write(new Uint8Array(PACER_FLOOR));
    for (let i = 0; i < 10 && got < PACER_FLOOR; i++) deliver();
    expect(got).toBe(PACER_FLOOR);
  });

  test("an older connector (no offer in its hello) is never sent a received frame", () => {
    const wire: Uint8Array[] = [];
    const edge = createMux({ role: "opener", transport: { send: (b) => void wire.push(b), buffered: () => 0, close() {} } });
    edge.receive(helloFrame(1, { hostnames: ["a.test"] }));
    edge.hello({}, true);
    const s = edge.open(META);
    for (let i = 0; i < 8; i++) edge.receive(dataFrame(s.id, new Uint8Array(256 * 1024)));
    const types = wire.map((b) => b[0]);
    expect(types).not.toContain(FrameType.received);
    expect(types).toContain(FrameType.open);
  });

  test("a stream out of credit waits outside the line: others' writes go at once, its own write says stop", () => {
    const { edge, accepted } = pair();
    const stuck = edge.open(META);
    const other = edge.open(META);
    accepted[0]!.onData = () => {}; // a sink that never takes the bytes: no credit comes back
    let got = 0;
    accepted[1]!.onData = (b) => ((got += b.byteLength), accepted[1]!.ack(b.byteLength));
    let drained = 0;
    stuck.onDrain = () => drained++;
    while (stuck.write(new Uint8Array(256 * 1024)));
    expect(edge.waiting).toBe(false); // nothing waits for the transport
    expect(other.write(new Uint8Array(1000))).toBe(true);
    expect(got).toBe(1000);
    expect(stuck.write(new Uint8Array(10))).toBe(false);
    accepted[0]!.ack(INITIAL_WINDOW);
    expect(drained).toBe(1);
  });

  test("a connector that does not offer received frames is not paced: the stream window is the limit", () => {
    const { edge, onWire } = wired({ hostnames: ["a.test"] });
    const s = edge.open(META);
    s.write(new Uint8Array(INITIAL_WINDOW + 1024));
    expect(onWire()).toBe(INITIAL_WINDOW);
  });
});

describe("stream windows that grow to the path", () => {
  const MiB = 1024 * 1024;

  /** A receive window on a fake clock and a path of `rtt` ms, with a sink that reads `rate`
   * bytes per ms while the sender keeps the window full (a window-limited sender). */
  function drain(w: ReturnType<typeof createReceiveWindow>, clock: { t: number }, rate: number, total: number): number {
    let outstanding = w.size; // what the sender was let send and has sent
    let read = 0;
    const step = 64 * 1024;
    while (read < total) {
      // the sender never has more than the window on the way: a round trip per window at most
      const n = Math.min(step, outstanding);
      if (n === 0) throw new Error("the sender ran out of credit");
      clock.t += Math.max(n / rate, 0);
      expect(w.arrived(n)).toBe(true);
      outstanding -= n;
      read += n;
      outstanding += w.consumed(n);
    }
    return outstanding;
  }

  test("a receiver whose sink drains a window within a round trip doubles it, up to the cap and no further", () => {
    const clock = { t: 0 };
    const budget = createBudget(1024 * MiB);
    const w = createReceiveWindow({ budget, rtt: () => 50, now: () => clock.t });
    expect(w.size).toBe(INITIAL_WINDOW);
    drain(w, clock, 1 * MiB, 1024 * MiB); // 1 MiB per ms: a window of 2 MiB in 2 ms, far under 50
    expect(w.size).toBe(MAX_STREAM_WINDOW);
    expect(budget.used).toBe(MAX_STREAM_WINDOW - INITIAL_WINDOW);
    drain(w, clock, 1 * MiB, 1024 * MiB);
    expect(w.size).toBe(MAX_STREAM_WINDOW);
  });

  test("a window settles where the sink takes a window in about four round trips, and a slow sink does not grow it", () => {
    const clock = { t: 0 };
    const budget = createBudget(1024 * MiB);
    // 40 KiB per ms over a 50 ms round trip: 2 MiB a round trip, so an 8 MiB window is four of them
    const w = createReceiveWindow({ budget, rtt: () => 50, now: () => clock.t });
    drain(w, clock, 40 * 1024, 64 * MiB);
    expect(w.size).toBe(4 * INITIAL_WINDOW);
    // 64 KiB/s, a client on a bad line: never
    const slow = createReceiveWindow({ budget, rtt: () => 50, now: () => clock.t });
    drain(slow, clock, 64, 8 * MiB);
    expect(slow.size).toBe(INITIAL_WINDOW);
  });

  test("a sink that takes a burst into a socket buffer and then slows does not grow the window (a slow client behind a big kernel buffer)", () => {
    const clock = { t: 0 };
    const w = createReceiveWindow({ budget: createBudget(1024 * MiB), rtt: () => 1, now: () => clock.t });
    drain(w, clock, 1 * MiB, 6 * MiB); // the kernel's buffer towards the client fills at memory speed
    drain(w, clock, 64, 2 * MiB); // then 64 KiB/s
    expect(w.size).toBe(INITIAL_WINDOW);
  });

  test("a stream whose bytes wait for its sink does not grow: the sink, not the window, holds it back", () => {
    const clock = { t: 0 };
    const w = createReceiveWindow({ budget: createBudget(1024 * MiB), rtt: () => 50, now: () => clock.t });
    let outstanding = w.size;
    for (let read = 0; read < 1024 * MiB; ) {
      // everything the sender was let send arrives at once, and waits; the sink takes it 64 KiB at a time
      expect(w.arrived(outstanding)).toBe(true);
      let waiting = outstanding;
      outstanding = 0;
      while (waiting > 0) {
        clock.t += 0.05;
        waiting -= 64 * 1024;
        read += 64 * 1024;
        outstanding += w.consumed(64 * 1024);
      }
    }
    expect(w.size).toBe(INITIAL_WINDOW);
  });

  test("a stream held back by its window grows at once to what the connection's streams needed lately, or step by step when the budget has not that much, and again step by step after LEARNED_MS", () => {
    const clock = { t: 0 };
    const budget = createBudget(40 * MiB);
    const shared: WindowOptions = { budget, rtt: () => 50, now: () => clock.t, learned: { size: 0, at: -Infinity } };
    /** The sizes a new stream's window went through while its sink drained `total` at 1 MiB a ms. */
    const sizes = (total: number) => {
      const w = createReceiveWindow(shared);
      const seen = [w.size];
      let outstanding = w.size;
      for (let read = 0; read < total; read += 64 * 1024) {
        clock.t += 1 / 16;
        w.arrived(64 * 1024);
        outstanding += w.consumed(64 * 1024) - 64 * 1024;
        if (outstanding <= 0) throw new Error("the sender ran out of credit");
        if (w.size !== seen.at(-1)) seen.push(w.size);
      }
      return { w, seen };
    };
    // its sink takes a window well within a round trip: held back by the window alone, it grows fourfold
    const first = sizes(1024 * MiB);
    expect(first.seen).toEqual([2, 8, 32].map((n) => n * MiB));
    first.w.release();
    clock.t += 10_000;
    const second = sizes(1024 * MiB);
    expect(second.seen).toEqual([INITIAL_WINDOW, MAX_STREAM_WINDOW]);
    // the budget has 10 MiB left beside the second: the third grows within it
    const third = sizes(1024 * MiB);
    expect(third.seen).toEqual([2, 8].map((n) => n * MiB));
    for (const w of [second.w, third.w]) w.release();
    clock.t += LEARNED_MS;
    const fourth = sizes(1024 * MiB);
    expect(fourth.seen).toEqual([2, 8, 32].map((n) => n * MiB));
  });

  test("without a measured round trip a window stays as it is", () => {
    const clock = { t: 0 };
    const w = createReceiveWindow({ budget: createBudget(1024 * MiB), rtt: () => undefined, now: () => clock.t });
    drain(w, clock, 1 * MiB, 64 * MiB);
    expect(w.size).toBe(INITIAL_WINDOW);
  });

  test("the windows of a connection grow by no more than its budget together, and of a process by no more than the process's", () => {
    const clock = { t: 0 };
    const process = createBudget(48 * MiB);
    const conn = createBudget(40 * MiB, process);
    const a = createReceiveWindow({ budget: conn, rtt: () => 50, now: () => clock.t });
    const b = createReceiveWindow({ budget: conn, rtt: () => 50, now: () => clock.t });
    drain(a, clock, 1 * MiB, 1024 * MiB);
    drain(b, clock, 1 * MiB, 1024 * MiB);
    expect(a.size).toBe(MAX_STREAM_WINDOW);
    expect(b.size - INITIAL_WINDOW).toBeLessThanOrEqual(40 * MiB - (MAX_STREAM_WINDOW - INITIAL_WINDOW));
    expect(conn.used).toBeLessThanOrEqual(40 * MiB);
    // another connection of the same process gets what the process has left, no more
    const other = createBudget(40 * MiB, process);
    const c = createReceiveWindow({ budget: other, rtt: () => 50, now: () => clock.t });
    drain(c, clock, 1 * MiB, 1024 * MiB);
    expect(process.used).toBeLessThanOrEqual(48 * MiB);
    expect(c.size - INITIAL_WINDOW).toBeLessThanOrEqual(48 * MiB - conn.used);
    // streams that end give their share back
    for (const w of [a, b, c]) w.release();
    expect([conn.used, other.used, process.used]).toEqual([0, 0, 0]);
  });

  test("an idle stream shrinks back, and gives its share back once the credit it granted is used up", () => {
    const clock = { t: 0 };
    const budget = createBudget(1024 * MiB);
    const w = createReceiveWindow({ budget, rtt: () => 50, now: () => clock.t });
    let outstanding = drain(w, clock, 1 * MiB, 1024 * MiB);
    expect(w.size).toBe(MAX_STREAM_WINDOW);
    clock.t += IDLE_MS - 1;
    expect(w.shrinkIfIdle()).toBe(false);
    expect(w.size).toBe(MAX_STREAM_WINDOW);
    clock.t += 1;
    // back to the start, but the peer may still send the credit it holds: that stays charged
    expect(w.shrinkIfIdle()).toBe(false);
    expect(w.size).toBe(INITIAL_WINDOW);
    expect(budget.used).toBeGreaterThan(0);
    // the peer sends what it was let, slowly: no new credit while it holds more than the start size
    while (outstanding > 0) {
      clock.t += 100;
      expect(w.arrived(64 * 1024)).toBe(true);
      outstanding -= 64 * 1024;
      const more = w.consumed(64 * 1024);
      if (more > 0) expect(outstanding).toBeLessThanOrEqual(INITIAL_WINDOW);
      outstanding += more;
      if (more > 0) break;
    }
    expect(w.shrinkIfIdle()).toBe(true);
    expect(budget.used).toBe(0);
  });

  test("a peer that sends past the window it was given is caught, however it grew", () => {
    const w = createReceiveWindow({ budget: createBudget(1024 * MiB), rtt: () => 50, now: () => 0 });
    expect(w.arrived(INITIAL_WINDOW)).toBe(true);
    expect(w.arrived(1)).toBe(false);
  });

  test("through the mux: a fast sink's stream window grows, announced by window frames alone, and a slow stream beside it stays small", () => {
    let t = 0;
    const now = () => t;
    const wire: Uint8Array[] = [];
    const back: Uint8Array[] = [];
    let edge!: Mux;
    const accepted: Stream[] = [];
    edge = createMux({ role: "opener", now, transport: { send: (b) => void wire.push(b), buffered: () => 0, close() {} } });
    const conn = createMux({ role: "acceptor", now, transport: { send: (b) => void back.push(b), buffered: () => 0, close() {} }, onStream: (s) => accepted.push(s) });
    const types = new Set<number>(); // what the receiver sent
    /** One way after the other, each half the round trip: 50 ms in all. */
    const deliver = () => {
      t += 25;
      for (const b of wire.splice(0)) conn.receive(b);
      t += 25;
      for (const b of back.splice(0)) types.add(b[0]!), edge.receive(b);
    };
    conn.hello({ hostnames: ["a.test"] });
    edge.hello({}, true);
    deliver();
    deliver(); // the hello pings' answers: both ends know the round trip
    types.clear();
    const fast = edge.open(META);
    const slow = edge.open(META);
    deliver();
    const [fastPeer, slowPeer] = accepted as [Stream, Stream];
    let got = 0;
    fastPeer.onData = (b) => ((got += b.byteLength), fastPeer.ack(b.byteLength));
    slowPeer.onData = () => {}; // never takes anything
    const chunk = new Uint8Array(256 * 1024);
    let perRound = 0;
    for (let round = 0; round < 12; round++) {
      // a source that keeps a window's worth queued
      while (fast.write(chunk) || edge.queuedBytes() < MAX_STREAM_WINDOW / 4);
      slow.write(chunk);
      const before = got;
      deliver();
      perRound = got - before;
    }
    // a fixed window would carry 2 MiB a round trip
    expect(perRound).toBeGreaterThan(2 * INITIAL_WINDOW);
    expect([...types].filter((ty) => ty !== FrameType.window && ty !== FrameType.received && ty !== FrameType.ping)).toEqual([]);
    expect(slow.bytesOut).toBe(INITIAL_WINDOW);
  });
});

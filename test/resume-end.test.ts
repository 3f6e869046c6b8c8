// The ends of a resumable stream over in-memory paths that can be cut: whatever is in flight
// when a path breaks is lost (records cut short included), and a new path replays the rest.
import { describe, expect, test } from "bun:test";
import { createResumeEnd, type ResumeEnd } from "../lib/resume/end.ts";
import { ackRecord, createRecordDecoder, dataRecord, endRecord, RecordType, resumeRecord } from "../lib/resume/records.ts";
import { ProtocolError } from "../lib/wire/errors.ts";

interface Side {
  end: ResumeEnd;
  got: Uint8Array[];
  ended: boolean;
  done: boolean;
  rooms: number;
}

function side(bound?: number): Side {
  const s: Side = { got: [], ended: false, done: false, rooms: 0, end: undefined as unknown as ResumeEnd };
  s.end = createResumeEnd({ bound, ackEvery: 1000, deliver: (b) => s.got.push(b), onEnd: () => (s.ended = true), onDone: () => (s.done = true), onRoom: () => s.rooms++ });
  return s;
}

/** A path between two ends: what each sends waits in flight until pump() delivers it, in pieces. */
function connect(a: Side, b: Side, resumed: boolean) {
  const flight = { ab: [] as Uint8Array[], ba: [] as Uint8Array[] };
  let cut = false;
  a.end.attach({ send: (r) => void (cut || flight.ab.push(r)) }, resumed);
  b.end.attach({ send: (r) => void (cut || flight.ba.push(r)) }, resumed);
  const deliver = (q: Uint8Array[], to: Side, limit: number) => {
    while (q.length > 0 && limit-- > 0) {
      const r = q.shift()!;
      // split every record in two: the receiver must join them
      const mid = r.byteLength >> 1;
      to.end.receive(r.subarray(0, mid));
      to.end.receive(r.subarray(mid));
    }
  };
  return {
    pump(limit = Infinity) {
      while (!cut && (flight.ab.length > 0 || flight.ba.length > 0) && limit > 0) {
        deliver(flight.ab, b, 1);
        deliver(flight.ba, a, 1);
        limit--;
      }
    },
    /** Half of the next record each way arrives, the rest is lost with the path. */
    cut() {
      const head = flight.ab[0];
      if (head) b.end.receive(head.subarray(0, head.byteLength >> 1));
      cut = true;
      a.end.detach();
      b.end.detach();
    },
  };
}

const concat = (chunks: Uint8Array[]) => Buffer.concat(chunks);
const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
  return b;
};

describe("a resumable stream's two ends", () => {
  test("bytes written during and across three cuts arrive once each, in order, both ways", () => {
    const a = side();
    const b = side();
    const upAll = random(3_000_000);
    const downAll = random(1_000_000);
    let path = connect(a, b, false);
    let up = 0;
    let down = 0;
    for (let round = 0; round < 4; round++) {
      // some bytes go while the path is up, some are written while there is none
      const u = upAll.subarray(up, (up += 700_001));
      const d = downAll.subarray(down, (down += 200_003));
      a.end.write(u.subarray(0, u.byteLength >> 1));
      b.end.write(d.subarray(0, d.byteLength >> 1));
      path.pump(7);
      a.end.write(u.subarray(u.byteLength >> 1));
      b.end.write(d.subarray(d.byteLength >> 1));
      path.pump(3);
      path.cut();
      path = connect(a, b, true);
    }
    a.end.write(upAll.subarray(up));
    b.end.write(downAll.subarray(down));
    a.end.end();
    b.end.end();
    path.pump();
    expect(concat(b.got).equals(Buffer.from(upAll))).toBe(true);
    expect(concat(a.got).equals(Buffer.from(downAll))).toBe(true);
    expect([a.ended, b.ended, a.done, b.done]).toEqual([true, true, true, true]);
    expect([a.end.unacked, b.end.unacked]).toEqual([0, 0]);
  });

  test("an end said before a cut is said again after it, and both ends finish", () => {
    const a = side();
    const b = side();
    const p = connect(a, b, false);
    a.end.write(new Uint8Array([1, 2, 3]));
    a.end.end();
    p.cut();
    const q = connect(a, b, true);
    q.pump();
    expect(b.ended).toBe(true);
    b.end.end();
    q.pump();
    expect([a.done, b.done]).toEqual([true, true]);
    expect(concat(b.got)).toEqual(Buffer.from([1, 2, 3]));
  });

  test("at the bound write() says stop, and acknowledgements make room", () => {
    const a = side(10_000);
    const b = side();
    const p = connect(a, b, false);
    expect(a.end.write(random(6_000))).toBe(true);
    expect(a.end.write(random(6_000))).toBe(false);
    expect(a.end.unacked).toBe(12_000);
    p.pump();
    expect(a.rooms).toBe(1);
    expect(a.end.unacked).toBeLessThan(1000);
  });

  test("a peer that acknowledges bytes never sent, or resumes from beyond them, is refused", () => {
    const a = side();
    a.end.attach({ send: () => {} }, false);
    a.end.write(new Uint8Array(10));
    expect(() => a.end.receive(ackRecord(11, false))).toThrow(ProtocolError);
    const c = side();
    c.end.attach({ send: () => {} }, true);
    expect(() => c.end.receive(resumeRecord(5))).toThrow(ProtocolError);
  });
});

describe("resume records", () => {
  test("round-trip through a decoder fed one byte at a time", () => {
    const bytes = Buffer.concat([dataRecord(new Uint8Array([9, 8, 7])), ackRecord(2 ** 40 + 3, true), endRecord(), resumeRecord(77)]);
    const d = createRecordDecoder();
    const out = [...bytes].flatMap((x) => d.push(new Uint8Array([x])));
    expect(out.map((r) => r.type)).toEqual([RecordType.data, RecordType.ack, RecordType.end, RecordType.resume]);
    expect(out[1]).toEqual({ type: RecordType.ack, received: 2 ** 40 + 3, ended: true });
    expect(out[3]).toEqual({ type: RecordType.resume, received: 77 });
  });

  test("a record longer than the limit is a protocol error before its bytes arrive", () => {
    const h = new Uint8Array(5);
    new DataView(h.buffer).setUint32(1, 1 << 30);
    expect(() => createRecordDecoder().push(h)).toThrow(ProtocolError);
  });
});

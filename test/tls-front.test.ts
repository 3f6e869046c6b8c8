// The TLS-ALPN-01 front (lib/edge/http/tls-front.ts) on its own: the ClientHello reader against
// real ClientHellos (node:tls's and OpenSSL's) and arbitrary bytes, and the splice against a
// plain TCP upstream: every byte both ways under backpressure, half-close, the client's
// address for the upstream's peer, and what an anonymous client can make it hold.
import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import fc from "fast-check";
import { connect } from "node:tls";
import { createHash } from "node:crypto";
import { parseClientHello, startFront } from "../lib/edge/http/tls-front.ts";

/** The first flight a TLS client sends: its ClientHello, as bytes. */
async function captureHello(send: (port: number) => void): Promise<Uint8Array> {
  const { promise, resolve } = Promise.withResolvers<Uint8Array>();
  let got = Buffer.alloc(0);
  const l = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, chunk) {
        got = Buffer.concat([got, chunk]);
        if (parseClientHello(got) !== "more") (resolve(got), s.end());
      },
    },
  });
  send(l.port);
  try {
    return await promise;
  } finally {
    l.stop(true);
  }
}

const nodeHello = (servername: string | undefined, alpn: string[] | undefined) =>
  captureHello((port) => {
    const s = connect({ host: "127.0.0.1", port, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
    s.on("error", () => {});
  });

describe("the ClientHello reader", () => {
  test("reads SNI and ALPN from node:tls's and OpenSSL's ClientHellos; a prefix asks for more", async () => {
    const a = await nodeHello("ssh.site.test", ["acme-tls/1"]);
    expect(parseClientHello(a)).toEqual({ sni: "ssh.site.test", alpn: ["acme-tls/1"] });
    const b = await nodeHello("Edge.Site.Test", ["h2", "http/1.1"]);
    expect(parseClientHello(b)).toEqual({ sni: "edge.site.test", alpn: ["h2", "http/1.1"] });
    expect(parseClientHello(await nodeHello(undefined, undefined))).toEqual({ alpn: [] });
    const o = await captureHello((port) => void Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "git.site.test", "-alpn", "acme-tls/1,http/1.1"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));
    expect(parseClientHello(o)).toEqual({ sni: "git.site.test", alpn: ["acme-tls/1", "http/1.1"] });
    for (const n of [0, 1, 4, 5, 40, a.length - 1]) expect(parseClientHello(a.subarray(0, n))).toBe("more");
  });

  test("arbitrary bytes, and real hellos with any byte changed, never throw and never read past the first record", async () => {
    const real = await nodeHello("ssh.site.test", ["acme-tls/1"]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseClientHello(bytes);
        expect(r === undefined || r === "more" || Array.isArray(r.alpn)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const b = Uint8Array.from(real);
        b[at] = value;
        const r = parseClientHello(b);
        // whatever comes out was read from this record alone: never more than its bytes
        if (r && r !== "more") for (const s of [r.sni ?? "", ...r.alpn]) expect(s.length).toBeLessThan(real.length);
      }),
      { numRuns: 3000 },
    );
    expect(parseClientHello(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))).toBeUndefined();
  });
});

/** A plain TCP upstream that hashes what it receives, says how much when the client ends, and remembers its peers' ports. */
function hashingUpstream() {
  const peers: number[] = [];
  const accepted = Promise.withResolvers<number>();
  const ended = Promise.withResolvers<{ bytes: number; sha: string }>();
  const l = Bun.listen<{ hash: ReturnType<typeof createHash>; bytes: number }>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(s) {
        s.data = { hash: createHash("sha256"), bytes: 0 };
        peers.push(s.remotePort);
      },
      data(s, chunk) {
        accepted.resolve(s.remotePort); // the first bytes: the front wrote them after it noted whose they are
        s.data.hash.update(chunk);
        s.data.bytes += chunk.byteLength;
      },
      end(s) {
        const r = { bytes: s.data.bytes, sha: s.data.hash.digest("hex") };
        ended.resolve(r);
        // after the client's half-close, the upstream still answers, then ends
        s.write(`got ${r.bytes} ${r.sha}\n`);
        s.end();
      },
    },
  });
  return { port: l.port, peers, accepted: accepted.promise, ended: ended.promise, stop: () => l.stop(true) };
}

describe("the front's splice", () => {
  test("every byte arrives in order under backpressure; the half-close passes; the upstream's peer is the client", async () => {
    const up = hashingUpstream();
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async () => undefined });
    try {
      // not a ClientHello: passed on as it is, for the listener behind to refuse
      const payload = new Uint8Array(48 << 20).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
      const want = createHash("sha256").update(payload).digest("hex");
      const reply = Promise.withResolvers<string>();
      let text = "";
      let off = 0;
      const pump = (s: Socket<undefined>) => {
        while (off < payload.length) {
          const n = s.write(payload.subarray(off, off + (1 << 20)));
          off += Math.max(0, n);
          if (n <= 0) return;
        }
        s.shutdown(); // half-close: done sending, still reading
      };
      await Bun.connect({
        hostname: "127.0.0.1",
        port: front.port,
        allowHalfOpen: true,
        socket: {
          open: pump,
          drain: pump,
          data: (_s, chunk) => void (text += new TextDecoder().decode(chunk)),
          end: () => reply.resolve(text),
          close: () => reply.resolve(text),
        },
      });
      expect(await up.ended).toEqual({ bytes: payload.length, sha: want });
      expect(await reply.promise).toBe(`got ${payload.length} ${want}\n`);
      expect(up.peers).toHaveLength(1);
    } finally {
      front.stop(true);
      up.stop();
    }
  }, 60_000);

  test("the upstream's peer maps to the client's address while the connection lasts, and is forgotten after", async () => {
    const up = hashingUpstream();
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async () => undefined });
    try {
      const closed = Promise.withResolvers<void>();
      const s = await Bun.connect({ hostname: "127.0.0.1", port: front.port, socket: { data() {}, close: () => closed.resolve() } });
      s.write("\x16\x03\x01\x00\x05hello"); // a record that is not a ClientHello: spliced at once
      const port = await up.accepted;
      expect(front.peerOf(port)).toBe("127.0.0.1");
      s.end();
      await up.ended;
      await closed.promise;
      // the front forgets the port once its loopback connection closed, within a few event-loop
      // turns of the client's close (turns, not time: nothing else is running)
      for (let i = 0; i < 100 && front.peerOf(port) !== undefined; i++) await new Promise((r) => setImmediate(r));
      expect(front.peerOf(port)).toBeUndefined();
    } finally {
      front.stop(true);
      up.stop();
    }
  });

  test("acme-tls/1 for a name without a challenge is hung up on; the upstream never sees it", async () => {
    const up = hashingUpstream();
    const asked: string[] = [];
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async (name) => void asked.push(name) });
    try {
      const r = await new Promise<string>((resolve) => {
        const s = connect({ host: "127.0.0.1", port: front.port, servername: "ssh.site.test", ALPNProtocols: ["acme-tls/1"], rejectUnauthorized: false }, () => resolve("handshake"));
        s.on("error", (e) => resolve(e.message));
        s.on("close", () => resolve("closed"));
      });
      expect(r).not.toBe("handshake");
      expect(asked).toEqual(["ssh.site.test"]);
      expect(up.peers).toEqual([]);
    } finally {
      front.stop(true);
      up.stop();
    }
  });

  test("a ClientHello that never finishes is hung up on after the hello timeout, and holds at most one record meanwhile", async () => {
    const up = hashingUpstream();
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async () => undefined, helloTimeoutS: 1 });
    try {
      const closed = Promise.withResolvers<void>();
      const started = performance.now();
      const s = await Bun.connect({ hostname: "127.0.0.1", port: front.port, socket: { data() {}, close: () => closed.resolve() } });
      s.write("\x16\x03\x01\x40\x00"); // a 16 KiB record is coming, and never does
      await closed.promise;
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      expect(up.peers).toEqual([]);
      // a record past TLS's largest is not waited for: passed on at once, for the listener to refuse
      const big = await Bun.connect({ hostname: "127.0.0.1", port: front.port, socket: { data() {} } });
      big.write("\x16\x03\x01\xff\xff");
      await up.accepted;
      big.end();
    } finally {
      front.stop(true);
      up.stop();
    }
  });

  test("a client that resets right after a request still has its address while the listener reads that request", async () => {
    // the listener reads only after the client is gone: the mapping must outlive the client
    const seen: (string | undefined)[] = [];
    const first = Promise.withResolvers<void>();
    const second = Promise.withResolvers<void>();
    let front: ReturnType<typeof startFront> | undefined;
    const up = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, chunk) {
          seen.push(front!.peerOf(s.remotePort));
          if (new TextDecoder().decode(chunk).includes("second")) second.resolve();
          else first.resolve();
        },
      },
    });
    front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async () => undefined });
    try {
      const s = await Bun.connect({ hostname: "127.0.0.1", port: front.port, socket: { data() {} } });
      s.write("\x16\x03\x01\x00\x05first");
      await first.promise;
      s.write("second");
      s.terminate(); // a reset, right after the second request
      await second.promise;
      expect(seen.every((a) => a === "127.0.0.1")).toBe(true);
    } finally {
      front.stop(true);
      up.stop(true);
    }
  });

  test("a client that stops reading is dropped after the stall timeout, and so is its loopback connection", async () => {
    // the listener sends a large answer; the client never reads it
    const upClosed = Promise.withResolvers<void>();
    const big = new Uint8Array(64 << 20);
    const up = Bun.listen<{ off: number }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.data = { off: 0 };
        },
        data(s) {
          const pump = () => {
            while (s.data.off < big.length) {
              const n = s.write(big.subarray(s.data.off));
              if (n <= 0) return;
              s.data.off += n;
            }
          };
          pump();
        },
        drain(s) {
          while (s.data.off < big.length) {
            const n = s.write(big.subarray(s.data.off));
            if (n <= 0) return;
            s.data.off += n;
          }
        },
        close: () => upClosed.resolve(),
      },
    });
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async () => undefined, stallTimeoutS: 1 });
    try {
      const clientClosed = Promise.withResolvers<void>();
      const s = await Bun.connect({ hostname: "127.0.0.1", port: front.port, socket: { data() {}, close: () => clientClosed.resolve() } });
      s.pause(); // reads nothing, ever
      s.write("\x16\x03\x01\x00\x05hello");
      await Promise.all([upClosed.promise, clientClosed.promise]);
    } finally {
      front.stop(true);
      up.stop(true);
    }
  }, 30_000);

  test("a flood of acme-tls/1 hellos for a name without a challenge costs one lookup a second; a name that is no hostname, none", async () => {
    const up = hashingUpstream();
    const asked: string[] = [];
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async (name) => void asked.push(name) });
    const hello = (servername: string) =>
      new Promise<string>((resolve) => {
        const s = connect({ host: "127.0.0.1", port: front.port, servername, ALPNProtocols: ["acme-tls/1"], rejectUnauthorized: false }, () => resolve("handshake"));
        s.on("error", (e) => resolve(e.message));
        s.on("close", () => resolve("closed"));
      });
    try {
      // the first ones may race to the store together; after that the answer is remembered
      const answers = await Promise.all(Array.from({ length: 20 }, () => hello("flood.site.test")));
      expect(answers.every((a) => a !== "handshake")).toBe(true);
      const looked = asked.length;
      expect(looked).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < 5; i++) expect(await hello("flood.site.test")).not.toBe("handshake");
      expect(asked.length).toBe(looked);
      expect(await hello("under_score.site.test")).not.toBe("handshake");
      expect(asked).not.toContain("under_score.site.test");
      expect(up.peers).toEqual([]);
    } finally {
      front.stop(true);
      up.stop();
    }
  });

  test("a ClientHello that arrives a few bytes at a time is read whole", async () => {
    const hello = await nodeHello("slow.site.test", ["acme-tls/1"]);
    const up = hashingUpstream();
    const asked = Promise.withResolvers<string>();
    const front = startFront({ hostname: "127.0.0.1", port: 0, upstreamPort: () => up.port, challenge: async (name) => void asked.resolve(name) });
    try {
      const s = await Bun.connect({ hostname: "127.0.0.1", port: front.port, socket: { data() {} } });
      s.setNoDelay(true);
      // each piece its own segment: the front sees many small chunks
      for (let i = 0; i < hello.length; i += 7) {
        s.write(hello.subarray(i, i + 7));
        s.flush();
        await new Promise((r) => setImmediate(r)); // a turn between pieces, not a wait for time
      }
      expect(await asked.promise).toBe("slow.site.test");
      s.end();
      expect(up.peers).toEqual([]);
    } finally {
      front.stop(true);
      up.stop();
    }
  });
});

// TLS-ALPN-01 (RFC 8737) on the edge's own port. An ACME CA proves a name by opening TLS to
// port 443 with that name's SNI and only the `acme-tls/1` protocol offered, and expects a
// self-signed certificate that carries the challenge. Bun.serve can neither negotiate that
// protocol nor pick a certificate by ALPN, so in this mode the public port is a plain TCP
// front: it reads each connection's ClientHello (one TLS record at most), hands the CA's
// connections to a small TLS responder that answers `acme-tls/1` with the challenge's
// certificate (Bun.listen does negotiate ALPN), and splices every other connection, bytes
// unread, to the edge's HTTPS listener on 127.0.0.1. What costs it: every byte of every
// connection passes through this process once more (README, "Run an edge"); edges that answer
// HTTP-01 on port 80 (`--acme-http-listen`) do without the front.
//
// The HTTPS listener sees the front's loopback connection, not the client: `peerOf` gives the
// client's address for the front's local port, which the router uses instead.
import type { Socket, TCPSocketListener } from "bun";
import { log } from "../../cli/log.ts";
import { isDnsName } from "../../net/dns-name.ts";

export const ACME_TLS_ALPN = "acme-tls/1";
/** A ClientHello that has not come in whole after this is dropped. */
const HELLO_TIMEOUT_S = 10;
/** A spliced connection whose one end takes nothing (or, its peer gone, does not close) for this long is dropped. */
const STALL_S = 60;
/** One TLS record: the most a ClientHello is read to before the connection is spliced as it is. */
const MAX_RECORD = 5 + 16_384;
/** A responder nobody has used for this long is stopped. */
const RESPONDER_IDLE_MS = 60_000;

export type ClientHello = { sni?: string; alpn: string[] };

/**
 * The SNI and ALPN of a ClientHello at the start of `b`: "more" while the first record is
 * incomplete; undefined when the bytes are not a ClientHello in one record (the HTTPS
 * listener then says what is wrong with them).
 */
export function parseClientHello(b: Uint8Array): ClientHello | "more" | undefined {
  if (b.length < 5) return b.length === 0 || b[0] === 0x16 ? "more" : undefined;
  if (b[0] !== 0x16) return undefined; // not a handshake record
  const recordEnd = 5 + ((b[3]! << 8) | b[4]!);
  if (recordEnd > MAX_RECORD) return undefined;
  if (b.length < recordEnd) return "more";
  const v = new DataView(b.buffer, b.byteOffset, recordEnd);
  let p = 5;
  const need = (n: number) => p + n <= recordEnd;
  if (!need(4) || b[p] !== 0x01) return undefined; // not a ClientHello
  const helloEnd = p + 4 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  if (helloEnd > recordEnd) return undefined; // spread over records: not an ACME validation's small hello
  p += 4 + 2 + 32; // type and length, version, random
  const skip = (lenBytes: 1 | 2) => {
    if (!need(lenBytes)) return false;
    const n = lenBytes === 1 ? b[p]! : v.getUint16(p);
    p += lenBytes + n;
    return p <= helloEnd;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return undefined; // session id, cipher suites, compression
  const hello: ClientHello = { alpn: [] };
  if (p === helloEnd) return hello; // no extensions
  if (p + 2 > helloEnd) return undefined;
  const extEnd = p + 2 + v.getUint16(p);
  if (extEnd > helloEnd) return undefined;
  p += 2;
  const text = (from: number, n: number) => new TextDecoder().decode(b.subarray(from, from + n));
  while (p + 4 <= extEnd) {
    const type = v.getUint16(p);
    const end = p + 4 + v.getUint16(p + 2);
    if (end > extEnd) return undefined;
    let q = p + 4;
    if (type === 0 && q + 2 <= end) {
      // server_name: a list of (type, length, name); host_name is type 0
      for (q += 2; q + 3 <= end; ) {
        const n = v.getUint16(q + 1);
        if (q + 3 + n > end) return undefined;
        if (b[q] === 0) hello.sni = text(q + 3, n).toLowerCase();
        q += 3 + n;
      }
    } else if (type === 16 && q + 2 <= end) {
      // application_layer_protocol_negotiation: a list of (length, name)
      for (q += 2; q + 1 <= end; ) {
        const n = b[q]!;
        if (q + 1 + n > end) return undefined;
        hello.alpn.push(text(q + 1, n));
        q += 1 + n;
      }
    }
    p = end;
  }
  return hello;
}

/** The challenge's self-signed certificate for a name, from the store (any node may be asked). */
export type ChallengeCert = { cert: string; key: string };

export interface Front {
  port: number;
  /** The client's address for a connection the front made from this local port, if it is one of ours. */
  peerOf(localPort: number): string | undefined;
  stop(closeActive: boolean): void;
}

/** Each end of a splice: the other end, what this end's socket has not taken yet, and how it is ending. */
type End = {
  other?: Socket<End>;
  out: Uint8Array[];
  /** Half-close this end once `out` is written: its peer finished sending. */
  endAfter: boolean;
  /** Its peer is gone: what this end still sends is dropped, and it is half-closed once `out` is written. */
  orphan: boolean;
  ended: boolean;
  closed: boolean;
  /** The stall timeout, in seconds. */
  stallS: number;
  onClose?: () => void;
};
/** The client's end: its address, and its first bytes until the front knows where they go. */
type Conn = End & { peer: string; hello?: { buf: Uint8Array; n: number }; routed: boolean; held: Uint8Array[] };

const newEnd = (stallS: number): End => ({ out: [], endAfter: false, orphan: false, ended: false, closed: false, stallS });

/** Writes what waits for `to`; true when nothing is left. While something waits, `to` has the
 * stall timeout: a peer that stops reading is not held forever. */
function flush(to: Socket<End>): boolean {
  const e = to.data;
  while (e.out.length > 0) {
    const head = e.out[0]!;
    const n = Math.max(0, to.write(head));
    if (n < head.byteLength) {
      e.out[0] = head.subarray(n);
      to.timeout(e.stallS);
      return false;
    }
    e.out.shift();
  }
  if (e.endAfter || e.orphan) {
    to.shutdown();
    // an orphan's peer may never close its side: it gets the stall timeout to do so
    if (e.orphan) to.timeout(e.stallS);
  } else to.timeout(0);
  return true;
}

/** Bytes from `from` to the other end; `from` stops being read while the other end is full. */
function forward(from: Socket<End>, bytes: Uint8Array) {
  if (from.data.orphan) return; // nobody to give them to
  const to = from.data.other;
  if (!to) {
    // still being routed: kept for the other end (the client is paused, so at most a chunk or two)
    (from.data as Conn).held?.push(bytes);
    return;
  }
  if (to.data.out.length === 0) {
    const n = Math.max(0, to.write(bytes));
    if (n === bytes.byteLength) return;
    bytes = bytes.subarray(n);
    to.timeout(to.data.stallS);
  }
  to.data.out.push(bytes); // Bun hands each data event a buffer of its own
  from.pause();
}

/** `s` ended (`close`: or is gone): the other end is half-closed once it has written what waits
 * for it, so the listener behind still reads a request the client sent before it left. */
function finish(s: Socket<End>, close: boolean) {
  s.data.ended = true;
  if (close) {
    s.data.closed = true;
    s.data.onClose?.();
  }
  const to = s.data.other;
  if (!to || to.data.closed) return;
  if (close) {
    to.data.orphan = true;
    to.resume(); // what it sends from now on is dropped, until it closes
  } else to.data.endAfter = true;
  if (to.data.out.length === 0) flush(to);
}

/** Nothing moved for a stall timeout: both ends go. */
function stalled(s: Socket<End>) {
  s.terminate();
  s.data.other?.terminate();
}

const spliceHandlers = {
  data: (s: Socket<End>, chunk: Uint8Array) => forward(s, chunk),
  drain(s: Socket<End>) {
    if (flush(s)) s.data.other?.resume();
  },
  end: (s: Socket<End>) => finish(s, false),
  close: (s: Socket<End>) => finish(s, true),
  timeout: stalled,
  error() {}, // close() follows
};

/** Connects `client` (whose first bytes are `head`) to 127.0.0.1:`port`, both ways; `ports`
 * remembers whose the loopback connection is until it closes. */
async function splice(client: Socket<Conn>, head: Uint8Array, port: number, ports?: Map<number, string>) {
  client.pause();
  const end = newEnd(client.data.stallS);
  let up: Socket<End>;
  try {
    up = await Bun.connect<End>({ hostname: "127.0.0.1", port, allowHalfOpen: true, data: end, socket: spliceHandlers });
  } catch (e) {
    log.debug(`front: cannot reach the listener on port ${port}: ${(e as Error).message}`);
    return void client.terminate();
  }
  if (client.data.closed || end.closed) return void up.terminate(); // the client left meanwhile
  if (ports) {
    const local = up.localPort;
    ports.set(local, client.data.peer);
    end.onClose = () => ports.delete(local);
  }
  end.other = client;
  client.data.other = up;
  end.out.push(head, ...client.data.held);
  client.data.held = [];
  if (client.data.ended) end.endAfter = true; // the client already finished sending
  if (flush(up)) client.resume();
}

/** The wire form of one ALPN protocol name, as Bun.listen's ALPNProtocols takes it. */
const alpnWire = (name: string) => Buffer.concat([Buffer.from([name.length]), Buffer.from(name)]);

/** TLS listeners on 127.0.0.1 that answer `acme-tls/1` for one name each, with its challenge's certificate. */
function createResponders() {
  const byName = new Map<string, { cert: string; listener: TCPSocketListener<undefined>; timer: ReturnType<typeof setTimeout> }>();
  const drop = (name: string) => {
    const r = byName.get(name);
    if (!r) return;
    byName.delete(name);
    clearTimeout(r.timer);
    r.listener.stop(true);
  };
  return {
    portFor(name: string, c: ChallengeCert): number {
      let r = byName.get(name);
      if (r && r.cert !== c.cert) (drop(name), (r = undefined));
      if (!r) {
        const listener = Bun.listen<undefined>({
          hostname: "127.0.0.1",
          port: 0,
          tls: { cert: c.cert, key: c.key, ALPNProtocols: alpnWire(ACME_TLS_ALPN) },
          socket: {
            open: (s) => s.timeout(HELLO_TIMEOUT_S), // a handshake takes milliseconds
            data() {},
            handshake: (s) => void s.end(), // the CA checks the certificate and hangs up
            timeout: (s) => s.terminate(),
            error() {},
          },
        });
        r = { cert: c.cert, listener, timer: setTimeout(() => drop(name), RESPONDER_IDLE_MS) };
        r.timer.unref?.();
        byName.set(name, r);
      }
      r.timer.refresh();
      return r.listener.port;
    },
    stop: () => [...byName.keys()].forEach(drop),
  };
}

/** How long "no challenge for this name" is believed, so a flood of acme-tls/1 hellos costs one store read a name a second. */
const NO_CHALLENGE_MS = 1_000;

/**
 * The front on `hostname:port`: ACME validations to `challenge(name)`'s responder, everything
 * else to the HTTPS listener at 127.0.0.1:`upstreamPort()`.
 */
export function startFront(o: {
  hostname: string;
  port: number;
  upstreamPort(): number;
  challenge(name: string): Promise<ChallengeCert | undefined>;
  /** Shorter timeouts, for tests. */
  helloTimeoutS?: number;
  stallTimeoutS?: number;
}): Front {
  const ports = new Map<number, string>(); // the front's local port toward the listener → the client's address
  const responders = createResponders();
  const none = new Map<string, number>(); // names without a challenge → until when that is believed

  async function challenge(name: string): Promise<ChallengeCert | undefined> {
    if (!isDnsName(name) || (none.get(name) ?? 0) > Date.now()) return undefined;
    const c = await o.challenge(name).catch((e: Error) => void log.warn(`acme: cannot read the TLS-ALPN-01 challenge for ${name}: ${e.message}`));
    if (!c) {
      if (none.size >= 1024) none.clear();
      none.set(name, Date.now() + NO_CHALLENGE_MS);
    }
    return c;
  }

  async function route(s: Socket<Conn>, head: Uint8Array) {
    s.data.routed = true;
    const hello = parseClientHello(head);
    if (!(hello && hello !== "more" && hello.sni && hello.alpn.includes(ACME_TLS_ALPN))) {
      s.timeout(0); // from here the listener behind keeps time
      return splice(s, head, o.upstreamPort(), ports);
    }
    // Only the CA offers acme-tls/1 (RFC 8737 section 3); without a challenge for the name
    // there is nothing to answer. The hello timeout still runs: a slow store does not hold it.
    s.pause();
    const c = await challenge(hello.sni);
    if (!c || s.data.closed) return void s.terminate();
    log.debug(`acme: answering a TLS-ALPN-01 validation for ${hello.sni} from ${s.data.peer}`);
    return splice(s, head, responders.portFor(hello.sni, c));
  }

  /** The client's first bytes, gathered in one buffer (not joined again per chunk) until the
   * ClientHello is whole. The buffer grows with what came, so a client that announces a large
   * record and sends little costs little. */
  function gather(s: Socket<Conn>, chunk: Uint8Array): Uint8Array | undefined {
    let h = s.data.hello;
    if (!h) {
      if (parseClientHello(chunk) !== "more") return chunk;
      h = s.data.hello = { buf: new Uint8Array(0), n: 0 };
    }
    const take = Math.min(chunk.byteLength, MAX_RECORD - h.n);
    if (h.n + take > h.buf.byteLength) {
      const grown = new Uint8Array(Math.min(MAX_RECORD, Math.max(h.n + take, 2 * h.buf.byteLength, 512)));
      grown.set(h.buf.subarray(0, h.n));
      h.buf = grown;
    }
    h.buf.set(chunk.subarray(0, take), h.n);
    h.n += take;
    if (take < chunk.byteLength) s.data.held.push(chunk.subarray(take));
    const head = h.buf.subarray(0, h.n);
    if (parseClientHello(head) === "more" && h.n < MAX_RECORD) return undefined;
    s.data.hello = undefined;
    return head;
  }

  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: o.hostname,
    port: o.port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        s.data = { ...newEnd(o.stallTimeoutS ?? STALL_S), peer: s.remoteAddress, routed: false, held: [] };
        s.timeout(o.helloTimeoutS ?? HELLO_TIMEOUT_S);
      },
      data(s, chunk) {
        if (s.data.routed) return forward(s as Socket<End>, chunk);
        const head = gather(s, chunk);
        if (!head) return;
        route(s, head).catch((e: Error) => {
          log.warn(`front: cannot route a connection from ${s.data.peer}: ${e.message}`);
          s.terminate();
        });
      },
      drain: (s) => spliceHandlers.drain(s as Socket<End>),
      // no whole ClientHello in time (Bun checks timeouts every few seconds), or a stall
      timeout: (s) => stalled(s as Socket<End>),
      end: (s) => finish(s as Socket<End>, false),
      close: (s) => finish(s as Socket<End>, true),
      error() {},
    },
  });

  return {
    port: listener.port,
    peerOf: (localPort) => ports.get(localPort),
    stop(closeActive) {
      listener.stop(closeActive);
      responders.stop();
    },
  };
}

// The edge under a bounded barrage of random input, as anyone on the network could send it:
// random bytes and random well-formed, malformed and truncated frames on the connector
// endpoint (with a zone credential and without), client upgrades to application hostnames
// with random headers and messages, a connector that answers the edge's streams with random
// frames, and random HTTP requests (through fetch and as raw bytes over TLS) to the edge's own
// host and to application hosts. Afterwards the edge must still be running, must have logged
// no unhandled error, must answer /healthz, and a real ssh through a real connector must work.
//
// fast-check drives every case; a failure prints its seed and the shrunk input, and
// FUZZ_SEED=<seed> replays it. The compiled edge on port 0, real TLS, real sshd.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { parseZoneCredential } from "../../lib/auth/zone-credential.ts";
import { ClientMessage } from "../../lib/wire/client.ts";
import { Close } from "../../lib/wire/close.ts";
import { createDecoder } from "../../lib/wire/decode.ts";
import { encodeFrame, helloFrame, pingFrame } from "../../lib/wire/encode.ts";
import { Flag, FrameType, HEADER_SIZE, PROTOCOL_VERSION, type Frame } from "../../lib/wire/frame.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, CONNECT_PATH, DEVICE_PATH, JWKS_PATH, METADATA_PATH, REVOKE_PATH, SSH_CA_PATH, SSH_CERT_PATH, TOKEN_PATH, VERIFY_PATH } from "../../lib/wire/http.ts";
import { run } from "../helpers/proc.ts";
import { startSshd, type SshClient } from "../helpers/sshd.ts";
import { startEdge, type ServiceToken, type TestEdge } from "../helpers/wicket.ts";

const SSH_HOST = "ssh.site.test"; // served by a real connector to a real sshd
const FUZZ_HOST = "fuzz.site.test"; // served by a hostile connector (below)
/** Longest the edge may take to answer one case before it counts as hung. */
const CASE_DEADLINE_MS = 10_000;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
/** Every property: its run count, and a time bound so a slow machine ends early rather than late. */
const params = (numRuns: number) => ({ numRuns, seed: SEED, interruptAfterTimeLimit: 8_000 });

const stack = new AsyncDisposableStack();
let edge: TestEdge;
let ca: string;
let sshToken: ServiceToken;
let fuzzToken: ServiceToken;
let sshClient: SshClient;
/** `Bearer <id>.<secret>` of a zone credential for site.test. */
let zoneAuth: string;
let hostile: HostileConnector;

beforeAll(async () => {
  const sshd = stack.use(await startSshd({ config: ["MaxStartups 100"] }));
  edge = stack.use(await startEdge());
  ca = readFileSync(edge.caFile, "utf8");
  sshToken = await edge.app(SSH_HOST);
  fuzzToken = await edge.app(FUZZ_HOST);
  await edge.tunnel(SSH_HOST, `ssh://127.0.0.1:${sshd.port}`);
  sshClient = await sshd.client(SSH_HOST, { proxyCommand: edge.proxyCommand(sshToken) });
  const cred = parseZoneCredential(readFileSync(await edge.tunnelCert("site.test"), "utf8"));
  zoneAuth = `Bearer ${cred.id}.${cred.secret}`;
  hostile = stack.use(hostileConnector());
}, 60_000);

afterAll(async () => {
  await stack.disposeAsync();
});

// ---------------------------------------------------------------- input generators

/** Bytes from a seed, cheaply: fast-check draws the seed and the size, not 64 Ki elements. */
function bytesOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
/** `arb` in about one case of `n`, else null. */
const rarely = <T>(arb: fc.Arbitrary<T>, n: number) => fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
const bigBytes = (max: number) => fc.tuple(fc.nat({ max }), fc.integer()).map(([n, seed]) => bytesOf(n, seed));
const smallBytes = fc.uint8Array({ maxLength: 64 });
const someBytes = fc.oneof({ weight: 3, arbitrary: smallBytes }, { weight: 1, arbitrary: bigBytes(64 * 1024) });

const utf8 = (s: string) => new TextEncoder().encode(s);
const u16 = (n: number) => new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
const u32 = (n: number) => new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 200 }), fc.constantFrom("", "fin", "open", "\u0000", "é".repeat(200)));
const hostname = fc.oneof(
  fc.constantFrom(FUZZ_HOST, SSH_HOST, "new.site.test", "site.test", "x.other.test", "", ".", "..site.test", "*.site.test", "SSH.SITE.TEST", "ssh.site.test.", "xn--.site.test", "a".repeat(300) + ".site.test", "127.0.0.1"),
  fc.stringMatching(/^[a-z0-9-]{1,20}\.site\.test$/),
  anyText,
);
const helloMeta = fc.record(
  { hostnames: fc.oneof(fc.array(hostname, { maxLength: 4 }), fc.constant([FUZZ_HOST]), fc.jsonValue()), connector: fc.oneof(anyText, fc.jsonValue()), index: fc.oneof(fc.integer(), fc.jsonValue()), received: fc.oneof(fc.boolean(), fc.jsonValue()), edge: anyText },
  { requiredKeys: [] },
);
const openMeta = fc.record({ host: hostname, client: anyText, identity: anyText, session: anyText }, { requiredKeys: [] });
const metadata = fc.oneof(
  helloMeta.map((m) => utf8(JSON.stringify(m))),
  openMeta.map((m) => utf8(JSON.stringify(m))),
  fc.jsonValue({ maxDepth: 3 }).map((v) => utf8(JSON.stringify(v) ?? "")),
  fc.constantFrom("{", "null", "[1,2]", '"x"', "{}", '{"__proto__":{"x":1}}', '{"hostnames":null}', '{"hostnames":"fuzz.site.test"}').map(utf8),
  smallBytes,
);
const streamId = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8 }), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff), fc.nat({ max: 0xffffffff }));
const flags = fc.oneof(fc.constant(0), fc.constant(Flag.ack), fc.integer({ min: 0, max: 255 }));
const version = fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer({ min: 0, max: 0xffff }));

/** A payload that fits the frame type, or nearly does (wrong sizes, wrong content). */
const payloadFor = (type: number): fc.Arbitrary<Uint8Array> => {
  switch (type) {
    case FrameType.hello:
      return fc.oneof(fc.tuple(version, metadata).map(([v, m]) => concat([u16(v), m])), smallBytes);
    case FrameType.open:
      return metadata;
    case FrameType.data:
      return someBytes;
    case FrameType.window:
    case FrameType.received:
      return fc.oneof(fc.nat({ max: 0xffffffff }).map(u32), fc.constantFrom(0, 0xffffffff, 2 ** 31).map(u32), smallBytes);
    case FrameType.fin:
      return fc.oneof(fc.constant(new Uint8Array(0)), smallBytes);
    case FrameType.reset:
    case FrameType.goAway:
      return fc.oneof(fc.tuple(fc.integer({ min: 0, max: 0xffff }), anyText).map(([c, t]) => concat([u16(c), utf8(t)])), smallBytes);
    case FrameType.ping:
      return fc.oneof(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.double().map((d) => new Uint8Array(new Float64Array([d]).buffer)), smallBytes);
    default:
      return someBytes;
  }
};
const frameType = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...Object.values(FrameType)) }, { weight: 1, arbitrary: fc.integer({ min: 9, max: 255 }) });
/** One frame; `stream` fixes its stream id (the hostile connector answers on the stream it was given). */
const frameArb = (stream: fc.Arbitrary<number> = streamId) =>
  frameType.chain((type) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.tuple(flags, stream, payloadFor(type)).map(([f, s, p]) => ({ bytes: encodeFrame(type as FrameType, f, s, p), lies: false })) },
      // a header whose length says something else than what follows (up to past MAX_PAYLOAD)
      {
        weight: 1,
        arbitrary: fc.tuple(flags, stream, fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(1 << 20, (1 << 20) + 1, 0xffffffff)), smallBytes).map(([f, s, len, p]) => {
          const h = new Uint8Array(HEADER_SIZE);
          h[0] = type;
          h[1] = f;
          h.set(u32(s), 2);
          h.set(u32(len), 6);
          return { bytes: concat([h, p]), lies: len !== p.byteLength };
        }),
      },
    ),
  );

/** Frames as the wire would carry them: concatenated, perhaps cut short, split at random points into messages, some sent as text. */
const wireArb = (frames: fc.Arbitrary<{ bytes: Uint8Array; lies: boolean }[]>) =>
  fc.record({ frames, cut: rarely(fc.nat(), 4), splits: fc.array(fc.nat(), { maxLength: 6 }), text: rarely(fc.nat({ max: 6 }), 6) }).map(({ frames, cut, splits, text }) => {
    let bytes = concat(frames.map((f) => f.bytes));
    const truncated = cut !== null && bytes.byteLength > 0;
    if (truncated) bytes = bytes.subarray(0, cut % bytes.byteLength);
    const points = [...new Set(splits.map((s) => (bytes.byteLength ? s % bytes.byteLength : 0)))].sort((a, b) => a - b);
    const messages: (Uint8Array | string)[] = [];
    let from = 0;
    for (const [i, p] of [...points, bytes.byteLength].entries()) {
      const chunk = bytes.subarray(from, p);
      from = p;
      if (chunk.byteLength) messages.push(text === i ? new TextDecoder().decode(chunk) : chunk);
    }
    // a ping the edge answers once it has read everything, unless the bytes leave it mid-frame
    const inSync = !truncated && !frames.some((f) => f.lies) && messages.every((m) => typeof m !== "string");
    return { messages, inSync };
  });

// ---------------------------------------------------------------- the connector endpoint

const SYNC = utf8("fuzzsync");
const wsUrl = (path: string) => `wss://127.0.0.1:${edge.port}${path}`;

type Ending = { how: "closed"; code: number; reason: string } | { how: "answered" } | { how: "refused"; message: string };

/**
 * A connector WebSocket that sends `messages` and ends: with the edge's close, or, when the
 * bytes leave the edge between frames, with its answer to a ping after them; otherwise we
 * close. Rejects if the edge sends something undecodable or takes longer than the deadline.
 */
function connectorSession(headers: Record<string, string>, messages: (Uint8Array | string)[], inSync: boolean): Promise<Ending> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(CONNECT_PATH), { headers, tls: { ca } } as never);
    ws.binaryType = "arraybuffer";
    const decoder = createDecoder();
    let ending: Ending | undefined;
    let error = "";
    const timer = setTimeout(() => {
      ws.terminate?.();
      reject(new Error(`the edge neither answered nor closed within ${CASE_DEADLINE_MS} ms`));
    }, CASE_DEADLINE_MS);
    ws.onopen = () => {
      for (const m of messages) ws.send(m);
      if (inSync) ws.send(pingFrame(SYNC));
      else ws.close(1000);
    };
    ws.onerror = (e) => (error = (e as ErrorEvent).message ?? "error");
    ws.onmessage = (e) => {
      let frames: Frame[];
      try {
        frames = decoder.push(new Uint8Array(e.data as ArrayBuffer));
      } catch (err) {
        clearTimeout(timer);
        ws.terminate?.();
        return reject(new Error(`the edge sent a frame that does not decode: ${(err as Error).message}`));
      }
      if (frames.some((f) => f.type === FrameType.ping && f.flags & Flag.ack && Buffer.from(f.payload).equals(SYNC)) && !ending) {
        ending = { how: "answered" };
        ws.close(1000);
      }
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      if (ending) return resolve(ending);
      resolve(e.code === Close.abnormal && error ? { how: "refused", message: error } : { how: "closed", code: e.code, reason: e.reason });
    };
  });
}

const validHello = helloMeta.map((m) => ({ bytes: helloFrame(PROTOCOL_VERSION, { connector: "fuzz", ...m }), lies: false }));
const frameSequence = fc.tuple(rarely(validHello, 2), fc.array(frameArb(), { maxLength: 8 })).map(([hello, rest]) => (hello ? [hello, ...rest] : rest));

// ---------------------------------------------------------------- a hostile connector

interface HostileConnector extends Disposable {
  /** Connected and registered for FUZZ_HOST (reconnects if the edge dropped it). */
  ready(): Promise<void>;
  /** What it answers the next stream the edge opens: frames on that stream's id. */
  nextReply: { bytes: Uint8Array }[];
  opened: number;
}

/** A connector for FUZZ_HOST that answers each stream the edge opens with `nextReply`, and the
 * edge's keepalive pings honestly so that the edge keeps it. */
function hostileConnector(): HostileConnector {
  let ws: WebSocket | undefined;
  let registered: Promise<void> | undefined;
  let disposed = false;
  const self: HostileConnector = {
    nextReply: [],
    opened: 0,
    ready() {
      if (registered && ws?.readyState === WebSocket.OPEN) return registered;
      registered = new Promise<void>((resolve, reject) => {
        const sock = new WebSocket(wsUrl(CONNECT_PATH), { headers: { authorization: zoneAuth }, tls: { ca } } as never);
        ws = sock;
        sock.binaryType = "arraybuffer";
        const decoder = createDecoder();
        sock.onopen = () => sock.send(helloFrame(PROTOCOL_VERSION, { hostnames: [FUZZ_HOST], connector: "hostile" }));
        sock.onmessage = (e) => {
          for (const f of decoder.push(new Uint8Array(e.data as ArrayBuffer))) {
            if (f.type === FrameType.hello && f.flags & Flag.ack) resolve();
            else if (f.type === FrameType.ping && !(f.flags & Flag.ack)) sock.send(pingFrame(f.payload, true));
            else if (f.type === FrameType.open) {
              self.opened++;
              for (const r of self.nextReply) {
                // the reply's frames were drawn for stream 1; they go on the stream opened
                const b = new Uint8Array(r.bytes);
                if (b.byteLength >= HEADER_SIZE && new DataView(b.buffer).getUint32(2) === 1) b.set(u32(f.stream), 2);
                sock.send(b);
              }
            }
          }
        };
        sock.onclose = (e) => {
          if (!disposed) reject(new Error(`the hostile connector was closed before it registered: ${e.code} ${e.reason}`));
        };
      });
      return registered;
    },
    [Symbol.dispose]() {
      disposed = true;
      ws?.close();
    },
  };
  return self;
}

// ---------------------------------------------------------------- client upgrades and HTTP

const tokenHeaders = (t: ServiceToken) => ({ [CLIENT_ID_HEADER]: t.id, [CLIENT_SECRET_HEADER]: t.secret });
const headerName = fc.oneof(
  fc.constantFrom("authorization", "cookie", "origin", "referer", "user-agent", "accept", "accept-language", "x-forwarded-for", "x-forwarded-proto", "forwarded", "x-real-ip", "content-type", CLIENT_ID_HEADER, CLIENT_SECRET_HEADER),
  fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
);
/** Printable header values (a CR or LF would be refused by our own HTTP client, not the edge). */
const headerValue = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,200}$/),
  fc.constantFrom("Bearer ", "Bearer a.b", "Bearer wtn_x.y", "Bearer wzc_x.y", "Bearer eyJhbGciOiJub25lIn0.e30.", "wicket_session=x; wicket_csrf=y", "1.2.3.4, 5.6.7.8", "::1", "null", "https://evil.example"),
);
const randomHeaders = fc.tuple(fc.dictionary(headerName, headerValue, { maxKeys: 6 }), rarely(fc.tuple(headerName, fc.nat({ max: 12 * 1024 })), 10)).map(([h, long]) =>
  long ? { ...h, [long[0]]: "a".repeat(long[1]) } : h,
);

const clientCase = fc.record({
  host: fc.oneof({ weight: 4, arbitrary: fc.constant(FUZZ_HOST) }, { weight: 1, arbitrary: fc.constantFrom(SSH_HOST, "nope.site.test", "x.other.test", "FUZZ.site.test:443") }, { weight: 1, arbitrary: hostname }),
  token: fc.constantFrom("fuzz", "fuzz", "fuzz", "ssh", "wrong", "none"),
  headers: randomHeaders,
  path: fc.constantFrom("/", "/x", "/?a=b", CONNECT_PATH),
  // bytes after the client's own "fin" included: they once stalled the socket for the 6 s keepalive
  messages: fc.array(fc.oneof(smallBytes, anyText, fc.constantFrom("open", "fin")), { maxLength: 6 }),
  reply: fc.array(frameArb(fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: streamId })), { maxLength: 5 }),
});

const EDGE_HOSTS = ["127.0.0.1", "localhost", "[::1]"];
const APP_HOSTS = [SSH_HOST, FUZZ_HOST, "nope.site.test", "site.test"];
const PATHS = [
  "/",
  "/healthz",
  SSH_CA_PATH,
  CONNECT_PATH,
  "/install.sh",
  "/download/",
  "/download/wicket-linux-x64",
  "/download/../../etc/passwd",
  "/api/v1/zones",
  "/api/v1/apps",
  "/api/v1/apps/ssh.site.test",
  "/api/v1/policies",
  "/api/v1/tokens",
  "/api/v1/audit",
  "/api/v1/zone-tunnels",
  "/api/v1/zone-routes/fuzz.site.test",
  "/api/v1/tunnel-certs",
  "/api/v1/policy-test",
  "/api/v1/",
  "/api/v2/x",
  DEVICE_PATH,
  TOKEN_PATH,
  REVOKE_PATH,
  "/oauth/authorize",
  "/oauth/",
  VERIFY_PATH,
  "/sign-in",
  "/sign-in/email",
  "/sign-in/pin",
  "/sign-in/callback",
  "/sign-out",
  METADATA_PATH,
  JWKS_PATH,
  SSH_CERT_PATH,
  "/.well-known/",
  "/.well-known/../../../etc/passwd",
  "/%2e%2e/%2e%2e/etc/passwd",
  "/..%2f..%2fetc%2fpasswd",
  "/%00",
  "//evil.example/",
  "/\u00e9\u{1f600}",
];
const pathSegment = fc.oneof(fc.constantFrom("..", ".", "%2e%2e", "%2f", "%00", "%ff", "a", "", "x".repeat(300)), fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/));
const queryValue = fc.oneof(fc.stringMatching(/^[A-Za-z0-9%._~=&+-]{0,40}$/), fc.constantFrom("//evil.example", "/.//evil.example", "javascript:alert(1)", "%00", "%"));
const queryKey = fc.constantFrom("return", "user_code", "code", "state", "csrf", "zone", "app", "email", "pin_id", "scope", "resource", "error", "idp", "after", "kind", "host", "q");
const pathArb = fc
  .tuple(
    fc.constantFrom(...PATHS),
    fc.array(pathSegment, { maxLength: 3 }),
    fc.array(fc.tuple(queryKey, queryValue), { maxLength: 5 }),
    rarely(fc.nat({ max: 60 * 1024 }), 10), // a huge query string
  )
  .map(([base, segs, query, huge]) => {
    let p = segs.length ? `${base.replace(/\/$/, "")}/${segs.join("/")}` : base;
    const q = query.map(([k, v]) => `${k}=${v}`);
    if (huge !== null) q.push(`pad=${"q".repeat(huge)}`);
    if (q.length) p += `?${q.join("&")}`;
    return p;
  });

const formField = fc.constantFrom("grant_type", "device_code", "client_id", "refresh_token", "token", "scope", "resource", "email", "pin", "pin_id", "user_code", "csrf", "return", "zone", "app", "action", "denied", "idp", "state", "code");
const formValue = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom("urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "wicket", "tunnel", "a@site.test", "root@site.test", "a,b@site.test", "000000", "/.//evil.example"));
const bodyArb = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.tuple(formField, formValue), { maxLength: 8 }).map((kv) => ({ type: "application/x-www-form-urlencoded", body: new URLSearchParams(kv).toString() })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ type: "application/json", body: JSON.stringify(v) ?? "" })),
  fc.record({ name: anyText, hostname, action: anyText, include: fc.jsonValue(), publicKey: anyText }, { requiredKeys: [] }).map((v) => ({ type: "application/json", body: JSON.stringify(v) })),
  someBytes.map((b) => ({ type: "application/octet-stream", body: b })),
  bigBytes(64 * 1024).map((b) => ({ type: "multipart/form-data; boundary=x", body: b })),
);
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS") }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,10}$/) });

const httpCase = fc.record({
  host: fc.oneof(fc.constantFrom(...EDGE_HOSTS, ...EDGE_HOSTS, ...APP_HOSTS), hostname),
  method,
  path: pathArb,
  headers: randomHeaders,
  auth: fc.constantFrom("none", "none", "zone", "token"),
  body: bodyArb,
});

async function healthz(): Promise<number> {
  const res = await fetch(`${edge.url}/healthz`, { tls: { ca }, signal: AbortSignal.timeout(CASE_DEADLINE_MS) });
  await res.arrayBuffer();
  return res.status;
}

/** A raw request over TLS: whatever bytes, then our half of the connection closes; resolves what came back. */
function rawTls(host: string, bytes: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const servername = isIP(host) || !host || /[^a-z0-9.-]/i.test(host) ? undefined : host;
    const sock = tlsConnect({ host: "127.0.0.1", port: edge.port, ca, servername, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the edge neither answered nor closed within ${CASE_DEADLINE_MS} ms`));
    }, CASE_DEADLINE_MS);
    sock.on("secureConnect", () => sock.end(bytes));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => {}); // a reset is an answer too
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

const rawCase = fc.oneof(
  someBytes.map((b) => ({ host: "127.0.0.1", bytes: b })),
  fc
    .record({
      host: fc.oneof(fc.constantFrom(...EDGE_HOSTS, ...APP_HOSTS), hostname),
      method,
      // literal traversal and bytes no URL parser would let through
      path: fc.oneof(pathArb, fc.constantFrom("/../../../../etc/passwd", "/download/../../../etc/shadow", "/.well-known/../../etc/passwd", "*", "http://evil.example/", "/a b", "/\x00", "/%")),
      version: fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9", ""),
      headers: fc.array(fc.tuple(fc.oneof(headerName, fc.constantFrom("content-length", "transfer-encoding", "upgrade", "connection", "expect", "host")), fc.oneof(headerValue, fc.constantFrom("-1", "99999999999", "chunked", "websocket", "Upgrade", "100-continue"))), { maxLength: 8 }),
      body: fc.oneof(smallBytes, bigBytes(16 * 1024)),
    })
    .map(({ host, method, path, version, headers, body }) => ({
      host,
      bytes: concat([utf8(`${method} ${path} ${version}\r\nhost: ${host}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`), body]),
    })),
);

// ---------------------------------------------------------------- the properties

/** Lines of the edge's log that mean an error escaped the code that should have handled it. */
const escapedErrors = () =>
  edge.proc
    .stderr()
    .split("\n")
    .filter((l) => /unhandled|uncaught|TypeError|RangeError|ReferenceError|request failed|panic|segmentation fault/i.test(l));

async function expectEdgeUnharmed() {
  expect(edge.proc.exitCode).toBeUndefined();
  expect(escapedErrors()).toEqual([]);
  expect(await healthz()).toBe(200);
}

/** How often each outcome came up: the barrage must get past the first check, not only bounce off it. */
function tally() {
  const counts: Record<string, number> = {};
  return { counts, add: (k: string | number) => void (counts[k] = (counts[k] ?? 0) + 1), total: (re: RegExp) => Object.entries(counts).reduce((n, [k, v]) => n + (re.test(k) ? v : 0), 0) };
}

/** Close codes the edge may end a connector with on its own: never "internal", never a drop without a close. */
const CONNECTOR_CLOSES: number[] = [Close.protocolError, Close.goingAway, Close.denied, Close.versionMismatch, Close.unavailable, Close.unauthenticated];

describe("the edge under random input", () => {
  test("random bytes on the connector endpoint with a zone credential end in a close, never a crash", async () => {
    const seen = tally();
    await fc.assert(
      fc.asyncProperty(fc.array(someBytes, { minLength: 1, maxLength: 5 }), async (messages) => {
        const end = await connectorSession({ authorization: zoneAuth }, messages, false);
        seen.add(end.how === "closed" ? end.code : end.how);
        expect(end.how).toBe("closed");
      }),
      params(1000),
    );
    expect(seen.total(/^1002$/)).toBeGreaterThan(0);
    await expectEdgeUnharmed();
  }, 60_000);

  test("random frames of every type on the connector endpoint with a zone credential: each answered or closed with a code that says why", async () => {
    const seen = tally();
    await fc.assert(
      fc.asyncProperty(wireArb(frameSequence), async ({ messages, inSync }) => {
        const end = await connectorSession({ authorization: zoneAuth }, messages, inSync);
        seen.add(end.how === "closed" ? end.code : end.how);
        expect(end.how).not.toBe("refused");
        // we close with 1000 only when the bytes leave the edge mid-frame; otherwise a close is the edge's
        if (end.how === "closed" && inSync) expect(CONNECTOR_CLOSES).toContain(end.code);
      }),
      params(3000),
    );
    expect(seen.counts.answered ?? 0).toBeGreaterThan(0); // some sequences were read to the end
    expect(seen.counts[Close.protocolError] ?? 0).toBeGreaterThan(0);
    await expectEdgeUnharmed();
  }, 60_000);

  test("without a credential the connector endpoint reads no frame at all", async () => {
    const auth = fc.option(fc.oneof(headerValue, fc.constantFrom("Bearer x", "Bearer wzc_.x", zoneAuth.slice(0, -1), zoneAuth + "x", zoneAuth.replace("Bearer ", "Bearer"), `Basic ${btoa("a:b")}`)), { freq: 3 });
    const messages = fc.oneof(wireArb(frameSequence), fc.array(someBytes, { maxLength: 3 }).map((m) => ({ messages: m, inSync: false })));
    await fc.assert(
      fc.asyncProperty(auth, messages, async (authorization, { messages, inSync }) => {
        const end = await connectorSession(authorization === null ? {} : { authorization }, messages, inSync);
        expect(end.how).not.toBe("answered");
        if (end.how === "closed") expect(end.code).toBe(Close.unauthenticated);
      }),
      params(1000),
    );
    await expectEdgeUnharmed();
  }, 60_000);

  test("client upgrades with random hosts, headers and messages, through a connector that answers with random frames; none without a token gets through", async () => {
    const seen = tally();
    await fc.assert(
      fc.asyncProperty(clientCase, async (c) => {
        await hostile.ready();
        hostile.nextReply = c.reply;
        // a Host our own client would refuse to send (a NUL, a non-Latin-1 character) is the raw TLS test's
        const headers: Record<string, string> = { ...c.headers, host: c.host.replace(/[^\x20-\x7e]/g, "") };
        if (c.token === "ssh") Object.assign(headers, tokenHeaders(sshToken));
        if (c.token === "fuzz") Object.assign(headers, tokenHeaders(fuzzToken));
        if (c.token === "wrong") Object.assign(headers, tokenHeaders({ ...fuzzToken, secret: fuzzToken.secret.slice(0, -1) + "x" }));
        const end = await new Promise<{ code: number; letIn: boolean }>((resolve, reject) => {
          const ws = new WebSocket(wsUrl(c.path), { headers, tls: { ca, rejectUnauthorized: false } } as never);
          let letIn = false;
          const timer = setTimeout(() => {
            ws.terminate?.();
            reject(new Error(`the edge neither let the client in nor closed within ${CASE_DEADLINE_MS} ms`));
          }, CASE_DEADLINE_MS);
          // the edge's first word is "open" (let in and routed) or a close: only then does the client talk
          ws.onmessage = (e) => {
            if (letIn || e.data !== ClientMessage.open) return;
            letIn = true;
            for (const m of c.messages) ws.send(m);
            ws.close(1000);
          };
          ws.onerror = () => {};
          ws.onclose = (e) => {
            clearTimeout(timer);
            resolve({ code: e.code, letIn });
          };
        });
        seen.add(end.letIn ? "let in" : end.code);
        if (c.token === "none" || c.token === "wrong") expect(end.letIn).toBe(false);
      }),
      params(600),
    );
    expect(hostile.opened).toBeGreaterThan(0); // the barrage reached the hostile connector
    expect(seen.counts["let in"] ?? 0).toBeGreaterThan(0);
    expect(seen.counts[Close.unauthenticated] ?? 0).toBeGreaterThan(0);
    await expectEdgeUnharmed();
  }, 60_000);

  test("random HTTP requests to the edge's host and application hosts each get an answer, never a 500", async () => {
    const seen = tally();
    await fc.assert(
      fc.asyncProperty(httpCase, async (c) => {
        const headers: Record<string, string> = { ...c.headers, host: c.host.replace(/[^\x20-\x7e]/g, "") };
        if (c.auth === "zone") headers.authorization = zoneAuth;
        if (c.auth === "token") Object.assign(headers, tokenHeaders(sshToken));
        // our fetch sends a body only with these methods
        const hasBody = c.body !== undefined && ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"].includes(c.method);
        if (hasBody) headers["content-type"] = c.body!.type;
        const res = await fetch(`${edge.url}${c.path}`, {
          method: c.method,
          headers,
          body: hasBody ? c.body!.body : undefined,
          tls: { ca },
          redirect: "manual",
          signal: AbortSignal.timeout(CASE_DEADLINE_MS),
        });
        await res.arrayBuffer();
        seen.add(res.status);
        if (res.status === 500) throw new Error(`HTTP 500 for ${c.method} ${c.path.slice(0, 200)} on ${c.host}`);
      }),
      params(4000),
    );
    expect(seen.total(/^2/)).toBeGreaterThan(0);
    expect(seen.total(/^4/)).toBeGreaterThan(0);
    await expectEdgeUnharmed();
  }, 60_000);

  test("random bytes and malformed requests over raw TLS get an answer or a closed connection, never a 500", async () => {
    await fc.assert(
      fc.asyncProperty(rawCase, async ({ bytes, host }) => {
        const answer = await rawTls(host, bytes);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
        if (status === "500") throw new Error(`HTTP 500 for ${JSON.stringify(Buffer.from(bytes.subarray(0, 200)).toString("latin1"))}`);
      }),
      params(2000),
    );
    await expectEdgeUnharmed();
  }, 60_000);

  test("after the barrage the edge is running, logged no escaped error, answers /healthz, and ssh through it works", async () => {
    await expectEdgeUnharmed();
    const r = await run(["ssh", ...sshClient.args, SSH_HOST, "echo ok"]);
    expect(r.stdout).toBe("ok\n");
    expect(r.code).toBe(0);
  }, 60_000);
});

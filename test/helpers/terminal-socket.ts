// A browser terminal's WebSocket driven from a test, as a signed-in page would open it (its
// cookies and form token, its origin), over a raw TLS socket with RFC 6455 framing of our own:
// a write that the edge does not read shows up as `write()` returning false and no "drain",
// as in a browser. (Bun's WebSocket client buffers without bound and has no drain event, so an
// attack through it would measure the test's memory, not the edge's back-pressure.)
import { connect, type TLSSocket } from "node:tls";

export type TerminalAccess = { host: string; port: number; ca: string; cookies: string; token: string };

export interface RawTerminal {
  /** Sends one binary message (masked with a zero key: the edge reads it the same); false when the socket's buffer is full. */
  send(bytes: Uint8Array): boolean;
  /** Resolves when the socket takes more after send() returned false. */
  drained(): Promise<void>;
  /** A control message (JSON text). */
  sendText(text: string): void;
  /** Resolves with the first match in the output so far or to come (output as latin1 text). */
  waitFor(re: RegExp): Promise<RegExpMatchArray>;
  /** Output bytes received so far. */
  readonly received: number;
  /** The edge's last word: the "closed" message's reason, and the close frame's code. */
  closed: Promise<{ code: number; reason: string }>;
  destroy(): void;
}

/** Opens a terminal socket; resolves once the edge has said the SSH session is connected. */
export async function openTerminalSocket(a: TerminalAccess, query = "cols=80&rows=24"): Promise<RawTerminal> {
  const sock: TLSSocket = connect({ host: "127.0.0.1", port: a.port, servername: a.host, ca: a.ca });
  await new Promise<void>((resolve, reject) => sock.once("secureConnect", resolve).once("error", reject));
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  sock.write(
    [
      `GET /.wicket/terminal?token=${a.token}&${query} HTTP/1.1`,
      `Host: ${a.host}:${a.port}`,
      `Origin: https://${a.host}:${a.port}`,
      `Cookie: ${a.cookies}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      "",
      "",
    ].join("\r\n"),
  );
  let buf: Buffer = Buffer.alloc(0);
  let upgraded = false;
  let output = "";
  let received = 0;
  let closedReason = "";
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  let connected: () => void = () => {};
  let failed: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => ((connected = resolve), (failed = reject)));
  let closedWith: (c: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (closedWith = resolve));

  const frame = (opcode: number, payload: Uint8Array) => {
    const n = payload.byteLength;
    const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : n < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]) : Buffer.alloc(10);
    if (n >= 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(n), 2);
    }
    // a zero masking key leaves the payload as it is: no copy of each megabyte to XOR
    return Buffer.concat([head, Buffer.alloc(4), payload]);
  };
  const onMessage = (opcode: number, payload: Buffer) => {
    if (opcode === 2) {
      received += payload.byteLength;
      output += payload.toString("latin1");
      if (output.length > 1 << 20) output = output.slice(-(1 << 19)); // the tail is what waits look at
      for (const w of [...waiters]) {
        const m = output.match(w.re);
        if (m) waiters.splice(waiters.indexOf(w), 1), w.resolve(m);
      }
    } else if (opcode === 1) {
      const m = JSON.parse(payload.toString("utf8")) as { type: string; state?: string; reason?: string };
      if (m.type === "status" && m.state === "connected") connected();
      if (m.type === "closed") closedReason = m.reason ?? "";
    } else if (opcode === 8) {
      const code = payload.byteLength >= 2 ? payload.readUInt16BE(0) : 1005;
      closedWith({ code, reason: closedReason || payload.subarray(2).toString("utf8") });
      failed(new Error(`the edge closed the terminal (${code}): ${closedReason || payload.subarray(2).toString("utf8")}`));
      sock.end();
    } else if (opcode === 9) sock.write(frame(10, payload));
  };
  sock.on("data", (chunk: Buffer) => {
    buf = buf.byteLength ? Buffer.concat([buf, chunk]) : chunk;
    if (!upgraded) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1");
      if (!head.startsWith("HTTP/1.1 101")) return failed(new Error(`the terminal's upgrade was refused: ${head.split("\r\n")[0]}`));
      upgraded = true;
      buf = buf.subarray(end + 4);
    }
    for (;;) {
      if (buf.byteLength < 2) return;
      let len = buf[1]! & 127;
      let at = 2;
      if (len === 126) {
        if (buf.byteLength < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.byteLength < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf.byteLength < at + len) return;
      onMessage(buf[0]! & 15, buf.subarray(at, at + len));
      buf = buf.subarray(at + len);
    }
  });
  sock.on("close", () => {
    closedWith({ code: 1006, reason: closedReason });
    failed(new Error("the terminal's connection closed before the session started"));
  });
  sock.on("error", () => {});
  await ready;
  return {
    send: (bytes) => sock.write(frame(2, bytes)),
    drained: () => new Promise<void>((resolve) => sock.once("drain", resolve)),
    sendText: (text) => void sock.write(frame(1, new TextEncoder().encode(text))),
    waitFor: (re) =>
      new Promise((resolve) => {
        const m = output.match(re);
        if (m) resolve(m);
        else waiters.push({ re, resolve });
      }),
    get received() {
      return received;
    },
    closed,
    destroy: () => sock.destroy(),
  };
}

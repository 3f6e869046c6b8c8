// Counts the statements a client sends PostgreSQL, read off the wire (the frontend protocol):
// each simple Query ('Q') and each Execute ('E') of the extended protocol is one. Give
// `observe` to a fault proxy in front of the server; TLS must be off (`sslmode=disable`).
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;

export function statementCounter() {
  const conns = new Map<number, { started: boolean; buffer: Uint8Array }>();
  let statements = 0;
  return {
    get statements() {
      return statements;
    },
    observe(conn: number, from: "client" | "target", bytes: Uint8Array) {
      if (from !== "client") return;
      let c = conns.get(conn);
      if (!c) conns.set(conn, (c = { started: false, buffer: new Uint8Array(0) }));
      const all = new Uint8Array(c.buffer.byteLength + bytes.byteLength);
      all.set(c.buffer);
      all.set(bytes, c.buffer.byteLength);
      const view = new DataView(all.buffer);
      let at = 0;
      for (;;) {
        // before the startup message: length and code, no type byte
        if (!c.started) {
          if (all.byteLength - at < 8) break;
          const length = view.getInt32(at);
          const code = view.getInt32(at + 4);
          if (all.byteLength - at < length) break;
          if (code !== SSL_REQUEST && code !== GSS_REQUEST) c.started = true;
          at += length;
          continue;
        }
        if (all.byteLength - at < 5) break;
        const length = view.getInt32(at + 1);
        if (all.byteLength - at < 1 + length) break;
        const type = String.fromCharCode(all[at]!);
        if (type === "Q" || type === "E") statements++;
        at += 1 + length;
      }
      c.buffer = all.slice(at);
    },
  };
}

// A TCP proxy that tests put between two parts (connector and edge, client and edge) to
// break the network on purpose, one connection at a time:
//
//   await using proxy = await startFaultProxy({ port: edge.port });
//   ... --edge https://127.0.0.1:${proxy.port} ...      (TLS goes through untouched)
//   const [c] = await proxy.waitForConnections(1);
//   c.cut();            // both sides closed at once, as when a link dies
//   c.stall();          // nothing more read or forwarded either way, nothing closed
//   c.slow(64 * 1024);  // forward at most this many bytes per second each way
//   c.resume();         // back to full speed
//
//   await startFaultProxy({ port, delayMs: 1, observe })   // every byte 1 ms late each way;
//                                                         // observe(conn, from, bytes) sees them
//
// It forwards with backpressure (a side that cannot take more pauses the other), so a stalled
// or slow connection holds bytes in the kernel's buffers and the proxy's memory stays small.
import type { Socket, TCPSocketListener } from "bun";

export type Mode = "open" | "stall" | "slow";

export interface ProxyConn {
  readonly id: number;
  readonly mode: Mode;
  readonly closed: boolean;
  /** Bytes forwarded client -> target and target -> client. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Resolves when both sides are closed. */
  readonly ended: Promise<void>;
  cut(): void;
  stall(): void;
  slow(bytesPerSecond: number): void;
  resume(): void;
}

export interface FaultProxy extends AsyncDisposable {
  port: number;
  /** `https://127.0.0.1:<port>`: give it as --edge. */
  url: string;
  /** Every connection accepted so far, closed ones included, in order. */
  readonly conns: ProxyConn[];
  live(): ProxyConn[];
  /** Resolves once `n` connections are open at the same time (the open ones, oldest first). */
  waitForConnections(n: number, timeoutMs?: number): Promise<ProxyConn[]>;
  /** Resolves once `done()` holds, looked at whenever a connection opens, closes or carries bytes. */
  until(done: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Stops listening; open connections stay unless `cut` is true. */
  stop(cut?: boolean): Promise<void>;
  /** Connections accepted from now on go to `port` (another node of a cluster, say); open ones stay. */
  retarget(port: number): void;
}

interface Side {
  sock?: Socket<SideData>;
  /** With `delayMs`: bytes read, and when they may go on (in order). */
  late: { due: number; bytes: Uint8Array }[];
  lateTimer?: Timer;
  /** Bytes read from this side, waiting to go to the other. */
  queue: Uint8Array[];
  queued: number;
  ended: boolean;
}
type SideData = { conn: Conn; side: "client" | "target" };

interface Conn extends ProxyConn {
  client: Side;
  target: Side;
  mode: Mode;
  rate: number;
  allowance: { client: number; target: number };
  timer?: Timer;
  up: number;
  down: number;
  isClosed: boolean;
  finish(): void;
  pump(from: Side): void;
}

const MAX_QUEUE = 256 * 1024;
const SLOW_TICK_MS = 50;

export type FaultProxyOptions = {
  port: number;
  host?: string;
  listenPort?: number;
  /** Every chunk waits this long before it is forwarded, each way: a link this far away. */
  delayMs?: number;
  /** Sees every chunk as it is read, before any delay. */
  observe?: (conn: number, from: "client" | "target", bytes: Uint8Array) => void;
};

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const host = opts.host ?? "127.0.0.1";
  let targetPort = opts.port;
  const conns: Conn[] = [];
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of [...waiters]) w();
  };
  const other = (c: Conn, s: Side) => (s === c.client ? c.target : c.client);

  function makeConn(clientSock: Socket<SideData>): Conn {
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    const c: Conn = {
      id: conns.length,
      client: { sock: clientSock, queue: [], queued: 0, ended: false, late: [] },
      target: { queue: [], queued: 0, ended: false, late: [] },
      mode: "open",
      rate: 0,
      allowance: { client: 0, target: 0 },
      up: 0,
      down: 0,
      isClosed: false,
      ended,
      get closed() {
        return c.isClosed;
      },
      get bytesUp() {
        return c.up;
      },
      get bytesDown() {
        return c.down;
      },
      finish() {
        if (c.isClosed) return;
        c.isClosed = true;
        clearInterval(c.timer);
        clearTimeout(c.client.lateTimer);
        clearTimeout(c.target.lateTimer);
        c.client.sock?.terminate();
        c.target.sock?.terminate();
        resolveEnded();
        changed();
      },
      /** Moves what `from` read to the other side, within the mode's limits. */
      pump(from) {
        const to = other(c, from);
        if (!to.sock || c.isClosed) return;
        const key = from === c.client ? "client" : "target";
        while (from.queue.length > 0 && c.mode !== "stall") {
          let head = from.queue[0]!;
          if (c.mode === "slow") {
            if (c.allowance[key] < 1) break;
            if (head.byteLength > c.allowance[key]) head = head.subarray(0, Math.floor(c.allowance[key]));
          }
          const n = Math.max(0, to.sock.write(head));
          if (c.mode === "slow") c.allowance[key] -= n;
          if (from === c.client) c.up += n;
          else c.down += n;
          if (waiters.size) changed();
          from.queued -= n;
          if (n === from.queue[0]!.byteLength) from.queue.shift();
          else from.queue[0] = from.queue[0]!.subarray(n);
          if (n < head.byteLength) break; // the other side is full: wait for its drain
        }
        if (from.queue.length === 0 && from.ended && !to.ended) to.sock.shutdown();
        if (c.mode !== "stall" && from.queued < MAX_QUEUE) from.sock?.resume();
        else from.sock?.pause();
      },
      cut() {
        c.finish();
      },
      stall() {
        c.mode = "stall";
        clearInterval(c.timer);
        c.client.sock?.pause();
        c.target.sock?.pause();
      },
      slow(bytesPerSecond) {
        c.mode = "slow";
        c.rate = bytesPerSecond;
        clearInterval(c.timer);
        const tick = () => {
          const per = (c.rate * SLOW_TICK_MS) / 1000;
          // no saving up: a slow link stays slow after a quiet spell
          c.allowance.client = Math.min(c.allowance.client + per, per);
          c.allowance.target = Math.min(c.allowance.target + per, per);
          c.pump(c.client);
          c.pump(c.target);
        };
        c.timer = setInterval(tick, SLOW_TICK_MS);
        tick();
      },
      resume() {
        c.mode = "open";
        clearInterval(c.timer);
        c.pump(c.client);
        c.pump(c.target);
      },
    };
    return c;
  }

  /** Moves the delayed bytes whose time has come (and an end behind them) into the queue. */
  function release(conn: Conn, from: Side) {
    from.lateTimer = undefined;
    const now = performance.now();
    while (from.late.length > 0 && from.late[0]!.due <= now) {
      const { bytes } = from.late.shift()!;
      if (bytes.byteLength === 0) from.ended = true; // the end, in its place
      else from.queue.push(bytes);
    }
    if (from.late.length > 0) from.lateTimer = setTimeout(() => release(conn, from), from.late[0]!.due - now);
    conn.pump(from);
    if (conn.client.ended && conn.target.ended) conn.finish();
  }
  /** Bytes read from `from` (empty: its end), forwarded now or after the delay. */
  function arrived(conn: Conn, from: Side, bytes: Uint8Array) {
    if (!opts.delayMs) {
      if (bytes.byteLength === 0) from.ended = true;
      else from.queue.push(bytes);
      return conn.pump(from);
    }
    from.late.push({ due: performance.now() + opts.delayMs, bytes });
    from.lateTimer ??= setTimeout(() => release(conn, from), opts.delayMs);
  }

  const handlers = {
    data(s: Socket<SideData>, chunk: Uint8Array) {
      const { conn, side } = s.data;
      const from = conn[side];
      const bytes = new Uint8Array(chunk); // Bun reuses its read buffer
      opts.observe?.(conn.id, side, bytes);
      from.queued += bytes.byteLength;
      arrived(conn, from, bytes);
    },
    drain(s: Socket<SideData>) {
      const { conn, side } = s.data;
      conn.pump(side === "client" ? conn.target : conn.client);
    },
    end(s: Socket<SideData>) {
      const { conn, side } = s.data;
      arrived(conn, conn[side], new Uint8Array(0));
      if (conn.client.ended && conn.target.ended) conn.finish();
    },
    // A stalled link carries no close either: the other side stays open, and silent.
    close(s: Socket<SideData>) {
      const c = s.data.conn;
      if (c.mode === "stall") c[s.data.side].sock = undefined;
      else c.finish();
    },
    error(s: Socket<SideData>) {
      const c = s.data.conn;
      if (c.mode === "stall") c[s.data.side].sock = undefined;
      else c.finish();
    },
  };

  const listener: TCPSocketListener<SideData> = Bun.listen<SideData>({
    hostname: "127.0.0.1",
    port: opts.listenPort ?? 0,
    allowHalfOpen: true,
    socket: {
      ...handlers,
      open(s) {
        const conn = makeConn(s);
        s.data = { conn, side: "client" };
        s.pause(); // nothing read until the target is connected
        conns.push(conn);
        Bun.connect<SideData>({ hostname: host, port: targetPort, allowHalfOpen: true, data: { conn, side: "target" }, socket: { ...handlers, open(t) {
          if (conn.isClosed) return void t.terminate();
          conn.target.sock = t;
          t.setNoDelay(true);
          conn.pump(conn.client);
          changed();
        } } }).catch(() => conn.finish());
      },
    },
  });

  const live = () => conns.filter((c) => !c.isClosed && c.target.sock);
  const proxy: FaultProxy = {
    port: listener.port,
    url: `https://127.0.0.1:${listener.port}`,
    get conns() {
      return conns as ProxyConn[];
    },
    live,
    async waitForConnections(n, timeoutMs = 15_000) {
      await proxy.until(() => live().length >= n, `${n} open connections (${live().length} open, ${conns.length} accepted in all)`, timeoutMs);
      return live();
    },
    until(done, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done()) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} through the proxy on ${listener.port}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(cut = false) {
      listener.stop(cut);
      if (cut) for (const c of conns) c.finish();
    },
    retarget(port) {
      targetPort = port;
    },
    async [Symbol.asyncDispose]() {
      await proxy.stop(true);
    },
  };
  return proxy;
}

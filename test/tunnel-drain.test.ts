// The connector's stream serving and drain on their own: a connector's mux wired back to back
// with an edge's mux in memory, in place of the WebSocket between them (connection.ts, covered
// by the binary tests in tunnel-recovery.test.ts), and streams served to a real TCP origin.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { LogLevels } from "consola";
import { createChanges } from "../lib/async.ts";
import { log } from "../lib/cli/log.ts";
import { createTunnelMetrics } from "../lib/tunnel/metrics.ts";
import type { Connection, TunnelRoom } from "../lib/tunnel/room.ts";
import { drain } from "../lib/tunnel/run.ts";
import { serveStream } from "../lib/tunnel/streams.ts";
import { ResetCode } from "../lib/wire/frame.ts";
import { createMux, DEFAULT_KEEPALIVE, type Mux, type Stream } from "../lib/wire/mux.ts";

let origin: TCPSocketListener;
let opened = Promise.withResolvers<void>();
let closed = Promise.withResolvers<void>();
const level = log.level;

beforeAll(() => {
  log.level = LogLevels.silent;
  origin = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: () => opened.resolve(),
      data: (s, d) => void s.write(d), // an echo server
      close: () => closed.resolve(),
    },
  });
});
afterAll(() => {
  origin.stop(true);
  log.level = level;
});

const META = { host: "a.site.test", client: "127.0.0.1", identity: "test@site.test" };

/** A connector with one registered connection; `edge` is the edge's end of it. */
function connector() {
  opened = Promise.withResolvers<void>();
  closed = Promise.withResolvers<void>();
  const changes = createChanges();
  const routes = { ingress: [{ hostname: META.host, origin: { url: `tcp://127.0.0.1:${origin.port}`, hostname: "127.0.0.1", port: origin.port } }] };
  const goAways: string[] = [];
  const closes: string[] = [];
  const room: TunnelRoom = {
    connectorId: "test",
    hostnames: [META.host],
    credential: { id: "id", secret: "secret" },
    keepalive: DEFAULT_KEEPALIVE,
    metrics: createTunnelMetrics(),
    conns: new Set(),
    draining: false,
    stopping: () => false,
    serve: (c, stream, meta) => serveStream(room, routes, c, stream, meta),
    changed: () => changes.notify(),
  };
  // each frame arrives a moment after it was sent, as over a socket, not inside the sender's call
  const to = (peer: () => Mux) => ({ send: (b: Uint8Array) => queueMicrotask(() => peer().receive(b.slice())), buffered: () => 0, close() {} });
  let edge!: Mux;
  const mux = createMux({ role: "acceptor", transport: to(() => edge), onStream: (s, meta) => room.serve(conn, s, meta) });
  edge = createMux({ role: "opener", transport: to(() => mux), onGoAway: (_code, reason) => void goAways.push(reason) });
  const conn: Connection = {
    index: 0,
    target: { label: "edge", wsUrl: "ws://edge.invalid/" },
    mux,
    registered: true,
    registeredAt: Date.now(),
    moved: false,
    close(reason) {
      closes.push(reason);
      mux.close(reason);
    },
  };
  room.conns.add(conn);
  return { room, changes, edge, conn, goAways, closes };
}

/** A stream from the edge that has reached the origin and carried bytes both ways. */
async function echoing(edge: Mux): Promise<Stream> {
  const s = edge.open(META);
  const echoed = Promise.withResolvers<string>();
  s.onData = (b) => {
    s.ack(b.byteLength);
    echoed.resolve(new TextDecoder().decode(b));
  };
  await opened.promise;
  s.write(new TextEncoder().encode("ping"));
  expect(await echoed.promise).toBe("ping");
  return s;
}

/** Every frame in flight has arrived, and everything it set off has run. */
const delivered = () => new Promise((r) => setImmediate(r));

const settledYet = async (p: Promise<unknown>) => {
  let settled = false;
  void p.then(() => (settled = true));
  await delivered();
  return settled;
};

describe("drain", () => {
  test("tells the edge to go away, lets the live stream run, and ends on that stream's close, not on a poll", async () => {
    const { room, changes, edge, goAways, closes } = connector();
    const s = await echoing(edge);
    const drained = drain(room, changes, 60_000);
    await delivered();
    expect(goAways).toEqual(["connector is shutting down"]);
    expect(room.draining).toBe(true);
    expect(await settledYet(drained)).toBe(false);
    s.reset(ResetCode.goingAway, "the client left");
    expect(await settledYet(drained)).toBe(true);
    expect(closes[0]).toBe("connector stopped");
    await closed.promise; // and the origin's connection is closed
  });

  test("the grace period ends a drain that a stream outlives, and that stream is closed", async () => {
    const { room, changes, edge, conn, closes } = connector();
    await echoing(edge);
    await drain(room, changes, 20);
    expect([...new Set(closes)]).toEqual(["connector stopped"]);
    expect(conn.mux!.streams.size).toBe(0);
    await closed.promise;
  });

  test("with no live stream the drain closes every connection at once", async () => {
    const { room, changes, closes } = connector();
    await drain(room, changes, 60_000);
    expect(closes).toEqual(["connector stopped", "connector stopped"]); // idle at the go-away, and at the end
  });
});

describe("streams", () => {
  test("a stream for a hostname no ingress rule names is refused, and the edge hears why", async () => {
    const { edge } = connector();
    const s = edge.open({ ...META, host: "other.site.test" });
    const why = Promise.withResolvers<[number, string]>();
    s.onClose = (code, reason) => why.resolve([code, reason]);
    expect(await why.promise).toEqual([ResetCode.refused, "this connector does not serve other.site.test"]);
  });

  test("a connection the edge moved away closes once its last stream ends", async () => {
    const { edge, conn, closes } = connector();
    const s = await echoing(edge);
    conn.moved = true;
    expect(closes).toEqual([]);
    s.reset(ResetCode.goingAway, "the client left");
    await delivered();
    expect(closes).toEqual(["moved to a new connection"]);
    await closed.promise;
  });
});

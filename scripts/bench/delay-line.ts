// A long link in user space, for `bun run bench --wan` (this kernel has no netem): TCP
// connections to each of its routes are forwarded to the route's target through one shared
// line per direction that holds every chunk `--one-way-ms` and lets at most `--mbit` through.
// A chunk leaves the line's queue at the link's rate (after the chunks before it, of every
// connection), then travels `one-way-ms`. When more than QUEUE_MS of bytes wait to leave, the
// connection that added them stops being read, so its sender's own TCP flow control takes
// over, as it would behind a real bottleneck; and a receiver that does not read holds back
// its own connection the same way.
//
//   bun scripts/bench/delay-line.ts --one-way-ms 25 --mbit 1000 edge=4433 origin=5000 …
//
// prints "delay line: <route> listening on 127.0.0.1 port <n>" for each route, then runs until
// stdin closes or a signal comes. Not run by the tests.
import { createServer, connect, type Server, type Socket } from "node:net";
import { parseArgs } from "node:util";

/** What may wait to leave the line (a bottleneck's buffer), in ms of the link's rate: enough
 * that pausing a sender costs no throughput, little enough to add no noticeable delay. */
const QUEUE_MS = 5;

interface Flow {
  from: Socket;
  to: Socket;
  /** Paused because the line's queue is full, or because `to` did not take its last write. */
  full: boolean;
  blocked: boolean;
  /** The sender ended (or closed): its end is in the line behind its bytes. */
  ended: boolean;
  /** `to` is closed: nothing more can reach it. */
  done: boolean;
}

interface Item {
  bytes: Buffer | null; // null: the sender ended its side (half-close), in order with its bytes
  at: number;
  flow: Flow;
}

/** One direction of the link: a FIFO of chunks in flight, each with its arrival time. */
function line(oneWayMs: number, bytesPerMs: number) {
  const items: Item[] = [];
  let head = 0;
  let lastDeparture = 0;
  let timer: Timer | undefined;
  const full = new Set<Flow>();

  const deliver = (it: Item) => {
    const f = it.flow;
    if (f.done) return;
    if (it.bytes === null) return void f.to.end();
    if (!f.to.write(it.bytes)) {
      f.blocked = true;
      f.from.pause();
    }
  };

  // senders paused on a full queue go on once half of it has left: the queue drains at the
  // link's rate whatever arrives at the far end meanwhile
  let resumeTimer: Timer | undefined;
  const resume = () => {
    resumeTimer = undefined;
    const wait = lastDeparture - QUEUE_MS / 2 - performance.now();
    if (wait > 0) return void (resumeTimer = setTimeout(resume, wait));
    for (const f of full) {
      f.full = false;
      if (!f.blocked && !f.done) f.from.resume();
    }
    full.clear();
  };

  const tick = () => {
    timer = undefined;
    const now = performance.now();
    while (head < items.length && items[head]!.at <= now) deliver(items[head++]!);
    if (head > 1024 && head * 2 > items.length) {
      items.splice(0, head);
      head = 0;
    }
    schedule(now);
  };

  const schedule = (now: number) => {
    if (timer || head >= items.length) return;
    timer = setTimeout(tick, Math.max(0, items[head]!.at - now));
  };

  return {
    push(flow: Flow, bytes: Buffer | null) {
      const now = performance.now();
      const departure = Math.max(now, lastDeparture) + (bytes ? bytes.byteLength / bytesPerMs : 0);
      lastDeparture = departure;
      items.push({ bytes, at: departure + oneWayMs, flow });
      if (departure - now > QUEUE_MS && !flow.full) {
        flow.full = true;
        full.add(flow);
        flow.from.pause();
        resumeTimer ??= setTimeout(resume, departure - QUEUE_MS / 2 - now);
      }
      schedule(now);
    },
  };
}

type Line = ReturnType<typeof line>;

function flow(from: Socket, to: Socket, through: Line): Flow {
  const f: Flow = { from, to, full: false, blocked: false, ended: false, done: false };
  const end = () => {
    if (f.ended) return;
    f.ended = true;
    through.push(f, null);
  };
  from.on("data", (b: Buffer) => through.push(f, b));
  // a sender that closed, cleanly or not, ends its side once its last bytes have arrived
  from.on("end", end);
  from.on("close", end);
  from.on("error", () => {});
  to.on("close", () => (f.done = true));
  to.on("drain", () => {
    f.blocked = false;
    if (!f.full && !f.done) from.resume();
  });
  return f;
}

function serve(name: string, target: number, up: Line, down: Line): Promise<Server> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = connect({ host: "127.0.0.1", port: target, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    flow(client, upstream, up);
    flow(upstream, client, down);
    upstream.on("connect", () => client.resume());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      console.log(`delay line: ${name} listening on 127.0.0.1 port ${typeof addr === "object" && addr ? addr.port : "?"}`);
      resolve(server);
    });
  });
}

const { values, positionals } = parseArgs({ options: { "one-way-ms": { type: "string" }, mbit: { type: "string" } }, allowPositionals: true });
const oneWayMs = Number(values["one-way-ms"]);
const mbit = Number(values.mbit);
const routes = positionals.map((p) => /^([\w-]+)=(\d+)$/.exec(p));
if (!(oneWayMs >= 0) || !(mbit > 0) || routes.length === 0 || routes.some((r) => !r)) {
  console.error("usage: bun scripts/bench/delay-line.ts --one-way-ms MS --mbit RATE NAME=PORT…");
  process.exit(64);
}
const bytesPerMs = (mbit * 1e6) / 8 / 1000;
// the client-to-target direction of every route shares one line, and the other direction another
const up = line(oneWayMs, bytesPerMs);
const down = line(oneWayMs, bytesPerMs);
const servers = await Promise.all(routes.map((r) => serve(r![1]!, Number(r![2]), up, down)));
const stop = () => {
  for (const s of servers) s.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();

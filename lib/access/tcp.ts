// `access tcp`: a local listener; every accepted connection gets its own WebSocket.
import type { Socket } from "bun";
import { log } from "../cli/log.ts";
import { usageError, configError } from "../cli/exit.ts";
import { splitHostPort } from "../net/address.ts";
import { dialApp, type DialOptions } from "./dial.ts";
import { connectBridge } from "./resume.ts";
import { dialSignedIn, type SignInMode } from "./connect.ts";

interface Conn {
  out: Uint8Array[];
  bridge?: ReturnType<typeof connectBridge>;
  pending: Uint8Array[]; // bytes read before the WebSocket opened
  ended: boolean;
  closed: boolean;
  sending: Promise<void>;
  /** What to do to the local socket once `out` has gone: the edge half-closed, or closed. */
  after?: "shutdown" | "end";
}

/** `--url`: HOST:PORT (lib/net/address.ts), `tcp://` before it allowed; a host and a port are needed. */
export function parseListenUrl(raw: string): { hostname: string; port: number } {
  const a = splitHostPort(raw.trim().replace(/^tcp:\/\//i, "").replace(/\/$/, ""));
  if (!a || !a.hostname || !a.port) throw usageError(`--url "${raw}" must be HOST:PORT to listen on, for example 127.0.0.1:2222`);
  return a;
}

export async function serveTcp(opts: DialOptions & { listen: string; signal: AbortSignal; signIn?: SignInMode; onListening?(port: number): void }) {
  // Without a service token each connection uses the signed-in person's app token.
  const dial = (d: DialOptions = opts) => {
    const o = { ...d, resumable: true };
    return o.serviceToken || !opts.signIn ? dialApp(o) : dialSignedIn(o, opts.signIn);
  };
  const { hostname, port } = parseListenUrl(opts.listen);
  const flush = (s: Socket<Conn>) => {
    const c = s.data;
    while (c.out.length) {
      const head = c.out[0]!;
      const n = s.write(head);
      if (n < head.byteLength) {
        c.out[0] = head.subarray(Math.max(n, 0));
        return;
      }
      c.out.shift();
    }
    // only now: ending the socket with bytes still queued would lose the tail
    if (c.after === "shutdown") s.shutdown();
    else if (c.after === "end") s.end();
    c.bridge?.drained();
  };
  const finish = (s: Socket<Conn>, how: "shutdown" | "end") => {
    if (s.data.after !== "end") s.data.after = how;
    flush(s);
  };
  let server;
  try {
    server = Bun.listen<Conn>({
      hostname,
      port,
      allowHalfOpen: true,
      socket: {
        open(s) {
          s.data = { out: [], pending: [], ended: false, closed: false, sending: Promise.resolve() };
          s.setNoDelay(true);
          dial().then(
            (ws) => {
              if (s.data.closed) return ws.close(1000, "local connection gone");
              const local = { write: (bytes: Uint8Array) => (s.data.out.push(bytes), flush(s), s.data.out.length === 0), end: () => finish(s, "shutdown") };
              const b = connectBridge(ws, local, opts.hostname, (resumeTicket) => dial({ ...opts, resumeTicket }));
              s.data.bridge = b;
              for (const p of s.data.pending.splice(0)) b.send(p);
              if (s.data.ended) b.end();
              else s.data.sending = b.room().then(() => s.resume());
              b.done.then(
                () => finish(s, "end"),
                (err) => {
                  log.error(err.message);
                  finish(s, "end");
                },
              );
            },
            (err) => {
              log.error(err.message);
              s.end();
            },
          );
        },
        data(s, chunk) {
          const c = s.data;
          if (!c.bridge) {
            // not connected yet: hold this chunk and read no more until we are
            c.pending.push(chunk);
            return void s.pause();
          }
          // stop reading while the WebSocket is full
          if (!c.bridge.send(chunk)) {
            s.pause();
            c.sending = c.bridge.room().then(() => s.resume());
          }
        },
        drain: flush,
        end(s) {
          s.data.ended = true;
          s.data.sending.then(() => s.data.bridge?.end());
        },
        close(s) {
          s.data.closed = true;
          s.data.bridge?.close();
        },
      },
    });
  } catch (err) {
    throw configError(`cannot listen on ${opts.listen}: ${(err as Error).message}`);
  }
  log.info(`listening on ${hostname}:${server.port} for ${opts.hostname}`);
  opts.onListening?.(server.port);
  await new Promise((r) => opts.signal.addEventListener("abort", r, { once: true }));
  server.stop(true);
}

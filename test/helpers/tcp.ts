// Small TCP origins and clients for the tests that check where bytes went through an edge:
// origins that say their name, `access tcp` listeners dialled n times, an echo sent and read back.
import type { TCPSocketListener } from "bun";
import type { ServiceToken, TestEdge } from "./wicket.ts";

/** TCP origins on 127.0.0.1:0 that say their name to each connection, then close it. */
export function namedOrigins() {
  const servers: TCPSocketListener[] = [];
  return {
    /** A new origin saying `name`: its `tcp://` URL, for a connector's --url. */
    origin(name: string): string {
      const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void s.end(`${name}\n`), data() {} } });
      servers.push(server);
      return `tcp://127.0.0.1:${server.port}`;
    },
    /** Stops every origin made so far, and their connections. */
    stop() {
      for (const s of servers) s.stop(true);
    },
  };
}

/** Which origin each of `n` connections through `access tcp` to `hostname` reached ("" where none answered). */
export async function reached(edge: TestEdge, hostname: string, token: ServiceToken, n: number): Promise<string[]> {
  const local = await edge.accessTcp(hostname, token);
  try {
    const one = () =>
      new Promise<string>((resolve, reject) => {
        let text = "";
        Bun.connect({
          hostname: "127.0.0.1",
          port: local.port,
          socket: { data: (_s, b) => void (text += b.toString()), close: () => resolve(text.trim()), error: (_s, e) => reject(e) },
        }).catch(reject);
      });
    return await Promise.all(Array.from({ length: n }, one));
  } finally {
    await local.proc.stop();
  }
}

/** `bytes` sent on a new connection to 127.0.0.1:`port` (an echo behind `access tcp`), and what came back once as much did. */
export async function echoed(port: number, bytes: string): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let got = "";
  const s = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open: (sock) => void sock.write(bytes),
      data(sock, d) {
        got += d.toString();
        if (got.length >= bytes.length) {
          resolve(got);
          sock.end();
        }
      },
      close: () => reject(new Error(`the echo through the edge closed after ${JSON.stringify(got)}`)),
      error: (_sock, e) => reject(e),
    },
  });
  try {
    return await promise;
  } finally {
    s.end();
  }
}

// The client <-> edge protocol under a client that breaks it: bytes after its own "fin". The
// stream takes nothing after a half-close, so the edge used to pause the socket for room that
// never came and left the client's close unread until the 6 s keepalive dropped it (found by
// test/security/fuzz.test.ts). Now it is a protocol error at once.
import { expect, test } from "bun:test";
import { Close } from "../../lib/wire/close.ts";
import { startEdge } from "../helpers/wicket.ts";

test("bytes after the client's own fin end its connection with a protocol error at once", async () => {
  await using edge = await startEdge();
  const token = await edge.app("fin.site.test");
  const origin = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    await edge.tunnel("fin.site.test", `tcp://127.0.0.1:${origin.port}`);
    const started = performance.now();
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`${edge.url.replace(/^http/, "ws")}/`, {
        headers: { host: "fin.site.test", "wicket-access-client-id": token.id, "wicket-access-client-secret": token.secret },
        tls: { servername: "fin.site.test", ca: Bun.file(edge.caFile) },
      } as never);
      ws.onmessage = (e) => {
        if (e.data !== "open") return;
        ws.send("fin");
        ws.send(new Uint8Array([1, 2, 3]));
      };
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
    expect(closed).toEqual({ code: Close.protocolError, reason: "bytes after fin" });
    expect(performance.now() - started).toBeLessThan(3_000); // not the 6 s keepalive
  } finally {
    origin.stop(true);
  }
});

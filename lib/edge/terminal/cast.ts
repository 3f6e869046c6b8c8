// A recording read out over HTTP (the admin API's export, the player's .cast): the body pulls
// one piece at a time from the store as the client reads, so a long recording is never whole
// in the edge's memory.
import { recordingCast, type Store } from "../../store/index.ts";

export function castResponse(store: Store, id: string, contentType: string): Response {
  const pieces = recordingCast(store, id);
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const next = await pieces.next();
        if (next.done) c.close();
        else c.enqueue(enc.encode(next.value));
      },
      async cancel() {
        await pieces.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { headers: { "content-type": contentType, "cache-control": "no-store" } });
}

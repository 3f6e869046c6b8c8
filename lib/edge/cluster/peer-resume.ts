// A resume that arrives at a node without the stream's connector process: the node that holds
// it is found by asking, in turn, each live node that serves the hostname. The store's list of
// each node's resume-capable processes lags a connector that moves (a connection going away is
// not in it), and a connector's connections may sit on several nodes; a node that lacks the
// process refuses the stream at once (peer-endpoint.ts), one that has it splices it to the
// connector, which answers with its first record.
import { ResetCode, type OpenMeta } from "../../wire/frame.ts";
import type { Mux, Stream } from "../../wire/mux.ts";

/** A stream the holder's node took: `replay` hands what came before the caller's handlers
 * were set (the connector's first record, or its refusal) to them. */
export type PeerResume = { stream: Stream; replay(): void };

/** The refusal of a node that does not hold the stream's connector process (peer-endpoint.ts). */
export const NOT_HELD_HERE = "the connector holding this stream is not connected to this node";

/** The first answer on `stream`: the node does not hold the connector, or it does (and what came is kept). */
function answer(stream: Stream): Promise<PeerResume | undefined> {
  return new Promise((resolve) => {
    const early: (() => void)[] = [];
    let took = false;
    const take = (event: () => void) => {
      early.push(event);
      if (!took) resolve({ stream, replay: () => early.splice(0).forEach((e) => e()) });
      took = true;
    };
    stream.onData = (bytes) => take(() => stream.onData?.(bytes));
    stream.onEnd = () => take(() => stream.onEnd?.());
    stream.onClose = (code, reason) => {
      if (!took && code === ResetCode.refused && reason === NOT_HELD_HERE) return resolve(undefined);
      take(() => stream.onClose?.(code, reason));
    };
  });
}

/** Opens the resume `meta` on the first of `links` whose node holds its connector process. */
export async function resumeOnPeers(links: AsyncIterable<{ mux: Mux }>, meta: OpenMeta): Promise<PeerResume | undefined> {
  for await (const { mux } of links) {
    const taken = await answer(mux.open(meta));
    if (taken) return taken;
  }
  return undefined;
}

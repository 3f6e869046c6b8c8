// `session list` across a cluster: the node asked lists its own live sessions and asks every
// other live node in the registry for theirs, over the admin API with the caller's own admin
// token (the nodes share the store, so it is valid on each). A node that does not answer in
// time is named in `unreachable`: the list is partial, not failed.
// A node asks the others as any admin client does, with the caller's token.
import { getSessions, type NodeSession, type UnreachableNode } from "../../admin-client/client.ts";
import { listNodes, type Store } from "../../store/index.ts";

/** How long `session list` waits for a peer node. */
export const PEER_ANSWER_MS = 2_000;

export type ClusterNode = {
  /** This node's id in the registry. */
  id: string;
  /** A node silent longer than this is dead: the keepalive timeout. */
  freshMs: number;
};

/** Every live node's sessions: `own` (this node's), then each peer's, oldest first. */
export async function clusterSessions(
  store: Store,
  self: ClusterNode,
  own: NodeSession[],
  ask: { token: string; caPem?: string; servername: string },
): Promise<{ sessions: NodeSession[]; unreachable: UnreachableNode[] }> {
  const peers = (await listNodes(store, self.freshMs)).filter((n) => n.id !== self.id);
  const unreachable: UnreachableNode[] = [];
  const answers = await Promise.all(
    peers.map(async (n) => {
      const signal = AbortSignal.timeout(PEER_ANSWER_MS);
      try {
        const r = await getSessions({ baseUrl: n.peerUrl.replace(/\/+$/, ""), token: ask.token, ca: ask.caPem, servername: ask.servername, signal }, "node");
        return r.sessions.map((s) => ({ ...s, node: n.id }));
      } catch (e) {
        unreachable.push({ node: n.id, peerUrl: n.peerUrl, error: signal.aborted ? `did not answer within ${PEER_ANSWER_MS / 1000} s` : (e as Error).message });
        return [];
      }
    }),
  );
  return { sessions: [...own, ...answers.flat()].sort((a, b) => a.startedAt - b.startedAt), unreachable };
}

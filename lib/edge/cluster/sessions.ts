// `session list` across a cluster: the node asked lists its own live sessions and asks every
// other live node in the registry for theirs at PEER_SESSIONS_PATH with the cluster secret, so
// it works for every caller, a console's cookie included; the node asked filters the whole
// list by the caller's zones (lib/edge/admin/sessions.ts). A node that does not answer in time
// is named in `unreachable`: the list is partial, not failed.
import { getPeerSessions, type NodeSession, type UnreachableNode } from "../../admin-client/client.ts";
import { checkClusterSecret, listNodes, type Store } from "../../store/index.ts";
import { bearerToken } from "../../wire/bearer.ts";

/** How long `session list` waits for a peer node. */
export const PEER_ANSWER_MS = 2_000;

export type ClusterNode = {
  /** This node's id in the registry. */
  id: string;
  /** A node silent longer than this is dead: the keepalive timeout. */
  freshMs: number;
  /** What peers present to each other (lib/store/nodes.ts). */
  secret: string;
};

/** Every live node's sessions: `own` (this node's), then each peer's, oldest first. */
export async function clusterSessions(
  store: Store,
  self: ClusterNode,
  own: NodeSession[],
  ask: { caPem?: string; servername: string },
): Promise<{ sessions: NodeSession[]; unreachable: UnreachableNode[] }> {
  const peers = (await listNodes(store, self.freshMs)).filter((n) => n.id !== self.id);
  const unreachable: UnreachableNode[] = [];
  const answers = await Promise.all(
    peers.map(async (n) => {
      const signal = AbortSignal.timeout(PEER_ANSWER_MS);
      try {
        const r = await getPeerSessions({ baseUrl: n.peerUrl.replace(/\/+$/, ""), token: self.secret, ca: ask.caPem, servername: ask.servername, signal });
        return r.sessions.map((s) => ({ ...s, node: n.id }));
      } catch (e) {
        unreachable.push({ node: n.id, peerUrl: n.peerUrl, error: signal.aborted ? `did not answer within ${PEER_ANSWER_MS / 1000} s` : (e as Error).message });
        return [];
      }
    }),
  );
  return { sessions: [...own, ...answers.flat()].sort((a, b) => a.startedAt - b.startedAt), unreachable };
}

/** The answer at PEER_SESSIONS_PATH: this node's sessions, every zone's, to a peer only. */
export function answerPeerSessions(req: Request, secret: string | undefined, own: () => NodeSession[]): Response {
  const presented = bearerToken(req.headers.get("authorization"));
  if (!secret || !presented || !checkClusterSecret(presented, secret)) {
    return Response.json({ error: secret ? "this path is for the edge's own nodes: it needs the cluster secret" : "this edge is in no cluster" }, { status: secret ? 401 : 404, headers: { "cache-control": "no-store" } });
  }
  return Response.json({ sessions: own() }, { headers: { "cache-control": "no-store" } });
}

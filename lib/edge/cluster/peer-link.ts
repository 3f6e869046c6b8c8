// One peer link: a multiplexed WebSocket to another node of the cluster, authenticated with
// the cluster secret over TLS that checks the node's certificate (the edge's public name).
import { log } from "../../cli/log.ts";
import { NODE_HEADER, PEER_PATH } from "../../wire/http.ts";
import { createMux, type Mux } from "../../wire/mux.ts";
import { clientTransport } from "../../wire/ws-transport.ts";

/** How long a peer link may take to open before the client is told no connector is online. */
const DIAL_TIMEOUT_MS = 5_000;

export type PeerDial = {
  /** This node, as the peer sees it. */
  nodeId: string;
  secret: string;
  servername: string;
  caPem?: string;
  keepalive: { intervalMs: number; timeoutMs: number };
  /** The link closed, was told to go away, or never opened: forget it. */
  onGone(): void;
};

/** Opens a link to `node`; resolves once it is open. */
export function dialPeer(node: { id: string; peerUrl: string }, o: PeerDial): Promise<Mux> {
  return new Promise((resolve, reject) => {
    const url = `${node.peerUrl.replace(/^http/, "ws").replace(/\/+$/, "")}${PEER_PATH}`;
    const tls = { servername: o.servername, ...(o.caPem ? { ca: o.caPem } : {}) };
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${o.secret}`, [NODE_HEADER]: o.nodeId, host: o.servername }, tls });
    ws.binaryType = "nodebuffer";
    let mux: Mux | undefined;
    const transport = clientTransport(ws, () => mux);
    const timeout = setTimeout(() => ws.terminate(), DIAL_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(timeout);
      mux = createMux({
        role: "opener",
        transport,
        pingIntervalMs: o.keepalive.intervalMs,
        deadAfterMs: o.keepalive.timeoutMs,
        onClose: (reason) => {
          o.onGone();
          log.info(`cluster: peer link to node ${node.id} closed: ${reason}`);
        },
        onGoAway: () => o.onGone(),
      });
      mux.hello({});
      log.info(`cluster: peer link to node ${node.id} at ${node.peerUrl} open`);
      resolve(mux);
    };
    ws.onmessage = (ev) => {
      mux?.receive(ev.data as Uint8Array);
      transport.poll();
    };
    ws.onclose = (ev) => {
      clearTimeout(timeout);
      transport.stop();
      o.onGone();
      if (mux) mux.close(`the peer closed the link (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`);
      else reject(new Error(`cannot open a peer link to node ${node.id} at ${node.peerUrl} (${ev.code}${ev.reason ? ` ${ev.reason}` : ""})`));
    };
  });
}

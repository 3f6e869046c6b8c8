// How busy the edge's listener is: the requests in progress (lib/edge/http/handshakes.ts) and
// the requests waiting for their bodies (lib/edge/http/slow-bodies.ts), one of each per edge,
// what the log says when either fills, and what /ready says about them.
import { log } from "../../cli/log.ts";
import { createHandshakes, saturated, shareOf, type HandshakeLimits, type Handshakes } from "./handshakes.ts";
import { createSlowBodies, shedding, VERIFIED_BODY_LIMITS, type SlowBodies, type SlowBodyLimits } from "./slow-bodies.ts";

export type Load = { requests: Handshakes; slowBodies: SlowBodies; verifiedBodies: SlowBodies };

export function createLoad(limits: { requests?: HandshakeLimits; slowBodies?: SlowBodyLimits } = {}): Load {
  const requests = createHandshakes(limits.requests, (who, ip) =>
    log.warn(
      who === "address"
        ? `${ip} has ${requests.limits.perAddress} requests in progress, its share: more from it get 429 until some finish (many people behind one proxy? list it in trusted-proxies)`
        : `the edge has ${requests.total} requests in progress, its share: more ${requests.total === requests.limits.total ? "" : "without a credential "}get 503 until some finish`,
    ),
  );
  const slowBodies = createSlowBodies(limits.slowBodies, () =>
    log.warn(`the edge has ${slowBodies.limits.total} requests waiting for their bodies, its share: the oldest is dropped (408) for each newcomer; slow senders, or someone holding requests open`),
  );
  const verifiedBodies = createSlowBodies(VERIFIED_BODY_LIMITS);
  return { requests, slowBodies, verifiedBodies };
}

/**
 * What /ready says: "saturated" (not ready, 503) while requests without a credential are
 * refused, so that a load balancer sends newcomers elsewhere; "shedding" (still ready, 200)
 * while the pool of slow bodies is full and drops its oldest, because everyone who sends a
 * body at once is still served and taking the node out would only move the attack to the next.
 */
export function loadReport(l: Load) {
  const full = saturated(l.requests);
  const shed = shedding(l.slowBodies);
  return {
    status: full ? ("saturated" as const) : shed ? ("shedding" as const) : undefined,
    requestsInProgress: { now: l.requests.total, limit: shareOf(l.requests, false), withCredential: l.requests.limits.total },
    slowBodies: { now: l.slowBodies.all.size, limit: l.slowBodies.limits.total, dropped: l.slowBodies.shed.edge, droppedByAddressShare: l.slowBodies.shed.address },
  };
}

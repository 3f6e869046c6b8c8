// Requests in progress, per client address and on the whole edge: a WebSocket handshake being
// authorized, a form being answered. Nobody is authenticated yet while a request is here, so
// one address that opens many and finishes none (thousands of upgrades at once) gets 429 past
// its share, and everyone past the edge's share 503, before any work is done for them, while
// other addresses are served. A request whose body is still arriving steps aside into the pool
// of slow bodies (lib/edge/http/slow-bodies.ts), which drops the oldest instead of refusing:
// how long a body takes is up to its sender, and eight addresses dribbling bodies held every
// place here. The last `reserved` places are for requests that carry a credential (a service
// token, a bearer token: app tokens, connector and admin credentials), so that a flood of
// anonymous requests leaves room for CI jobs, connectors and admins; a forged one holds its
// place only while its check takes.
//
// The count lives in memory and an address is forgotten when its last request ends, so the map
// never holds more addresses than there are requests in progress (at most `total`). What never
// becomes a request is bounded elsewhere: a connection that does not finish its headers, or
// leaves a body half sent, is closed by Bun's idle timeout (10 s, checked in steps: about 12 s);
// a client WebSocket that stops answering pings, by lib/edge/streams/keepalive.ts.

import { addressGroup } from "../../policy/cidr.ts";

export type HandshakeLimits = { perAddress: number; total: number; reserved?: number };

/** Far above what a person or a CI runner behind one address has in progress at once (an
 * upgrade takes milliseconds; `access tcp` under a burst, as the bench's 10,000 streams opened
 * 100 at a time, stays well inside); far below what would hold the store or memory hostage.
 * An eighth of the places are kept for requests with a credential. */
export const HANDSHAKE_LIMITS: HandshakeLimits = { perAddress: 256, total: 2048, reserved: 256 };

export type Handshakes = { limits: HandshakeLimits; byAddress: Map<string, number>; total: number; onFull?(who: Refusal, ip: string): void };

/** `onFull`: once each time an address's share, or the edge's, becomes full (not per refusal). */
export const createHandshakes = (limits: HandshakeLimits = HANDSHAKE_LIMITS, onFull?: Handshakes["onFull"]): Handshakes => ({ limits, byAddress: new Map(), total: 0, onFull });

/** Whose share is used up: this address's, or the edge's. */
export type Refusal = "address" | "edge";

/** A request's place: given back when it is answered; set aside while its body arrives. */
export type Place = {
  /** Gives the place back (safe to call twice). */
  release(): void;
  /** Gives the place back while the request waits for its body. */
  stepAside(): void;
  /** Its body is in: counted again, never refused (the body is here; refusing would waste it). */
  stepBack(): void;
};

/** How many places a request may fill: all of them with a credential, else all but the reserve. */
export const shareOf = (h: Handshakes, credential: boolean) => h.limits.total - (credential ? 0 : (h.limits.reserved ?? 0));

/** Takes a place for a request from `ip`, or says whose share is full. */
export function enter(h: Handshakes, address: string, credential = false): Place | { refused: Refusal } {
  const ip = addressGroup(address);
  const mine = h.byAddress.get(ip) ?? 0;
  if (mine >= h.limits.perAddress) return { refused: "address" };
  if (h.total >= shareOf(h, credential)) return { refused: "edge" };
  let held = false;
  const take = () => {
    if (held) return;
    held = true;
    h.byAddress.set(ip, (h.byAddress.get(ip) ?? 0) + 1);
    h.total++;
  };
  const giveBack = () => {
    if (!held) return;
    held = false;
    h.total--;
    const left = (h.byAddress.get(ip) ?? 1) - 1;
    if (left > 0) h.byAddress.set(ip, left);
    else h.byAddress.delete(ip);
  };
  take();
  if (mine + 1 === h.limits.perAddress) h.onFull?.("address", ip);
  if (h.total === shareOf(h, credential)) h.onFull?.("edge", ip);
  let released = false;
  return {
    release() {
      released = true;
      giveBack();
    },
    stepAside: giveBack,
    stepBack: () => void (released || take()),
  };
}

/** Whether requests without a credential are refused now: the edge's share for them is full. */
export const saturated = (h: Handshakes) => h.total >= shareOf(h, false);

/** The answer to a refused request: 429 for an address over its share, 503 for a full edge. */
export function refusedResponse(r: Refusal): Response {
  const [status, text] = r === "address" ? [429, "too many requests in progress from your address; finish or close some and try again"] : [503, "the edge has too many requests in progress; try again shortly"];
  return new Response(`${text}\n`, { status, headers: { "retry-after": "1", "cache-control": "no-store", connection: "close" } });
}

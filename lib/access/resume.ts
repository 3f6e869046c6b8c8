// A bridge that outlives its WebSocket (docs/resume.md): when the edge said "open+resume",
// the local side stays open across a cut, its bytes kept by one end of the stream
// (lib/resume/end.ts) while the client dials again, with backoff, with the edge's latest
// ticket, for as long as the edge said the connector keeps the stream (its "grace"); the
// connector replays what we missed and we replay what it missed.
import { log } from "../cli/log.ts";
import { temporaryError, WicketError } from "../cli/exit.ts";
import { createResumeEnd, REPLAY_BOUND } from "../resume/end.ts";
import { Close } from "../wire/close.ts";
import { formatDuration } from "../cli/values.ts";
import { CLIENT_HIGH_WATER, ClientMessage, closeError, GRACE_PREFIX, TICKET_PREFIX } from "../wire/client.ts";
import { bridge, ClosedError, isResumable, takeHeld, type Local } from "./dial.ts";

/** How long the client tries to resume before it gives up, when the edge did not say (an edge
 * that predates "grace"): the connector's default grace. */
export const RESUME_FOR_MS = 120_000;
const BACKOFF_MS = [100, 250, 500, 1000, 2000, 4000];

/** Close codes after which the stream may still be there: the path broke, not the session. */
const RESUMABLE_CLOSES = new Set<number>([Close.abnormal, Close.goingAway, Close.internal, Close.keepaliveTimeout, Close.noConnector, Close.unavailable, Close.noStatus]);

/** Dials the edge again to resume with `ticket`; resolves with the WebSocket once "open" came. */
export type Redial = (ticket: string) => Promise<WebSocket>;

/** bridge() for a WebSocket that is not resumable, else one that resumes through `redial`. */
export function connectBridge(ws: WebSocket, local: Local, hostname: string, redial: Redial) {
  return isResumable(ws) ? resumableBridge(ws, local, hostname, redial) : bridge(ws, local, hostname);
}

/** Whether a failure to dial again is worth another try (the edge is down, or not ready). */
const retryable = (e: unknown) => !(e instanceof ClosedError) || RESUMABLE_CLOSES.has(e.code);

function resumableBridge(first: WebSocket, local: Local, hostname: string, redial: Redial) {
  let ws = first;
  let ticket: string | undefined;
  let graceMs = RESUME_FOR_MS;
  let finSent = false;
  let settle!: { resolve(): void; reject(e: Error): void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const end = createResumeEnd({
    deliver: (bytes) => void (local.write(bytes) || ws.pause()),
    onEnd: () => local.end(),
    // both ways over and acknowledged: the edge ends the mux stream and closes normally
    onDone: () => {
      finSent = true;
      if (ws.readyState === WebSocket.OPEN) ws.send(ClientMessage.fin);
    },
  });

  const onMessage = (data: unknown) => {
    if (typeof data === "string") {
      if (data.startsWith(TICKET_PREFIX)) ticket = data.slice(TICKET_PREFIX.length);
      const grace = data.startsWith(GRACE_PREFIX) ? Number(data.slice(GRACE_PREFIX.length)) : NaN;
      if (Number.isSafeInteger(grace) && grace >= 0) graceMs = grace;
      return;
    }
    try {
      end.receive(data as Uint8Array);
    } catch (e) {
      settle.reject(temporaryError(`the connector sent a malformed resume record: ${(e as Error).message}`));
      ws.close(Close.protocolError, "bad resume record");
    }
  };

  function take(next: WebSocket, resumed: boolean) {
    ws = next;
    const held = takeHeld(next);
    end.attach({ send: (r) => void (next.readyState === WebSocket.OPEN && next.send(r)) }, resumed);
    if (finSent && next.readyState === WebSocket.OPEN) next.send(ClientMessage.fin);
    for (const m of held?.messages ?? []) onMessage(m);
    if (held?.close) return void onClose(next, held.close.code, held.close.reason);
    next.onmessage = (ev) => onMessage(ev.data);
    next.onclose = (ev) => onClose(next, ev.code, ev.reason);
  }

  function onClose(from: WebSocket, code: number, reason: string) {
    if (from !== ws) return;
    end.detach();
    if (end.done || code === Close.normal) return settle.resolve();
    if (!ticket || !RESUMABLE_CLOSES.has(code)) {
      const err = closeError(code, reason, hostname);
      return err ? settle.reject(new ClosedError(err, code)) : settle.resolve();
    }
    void resume(ticket, code, reason);
  }

  async function resume(t: string, code: number, reason: string) {
    ticket = undefined; // each ticket resumes one cut
    const lost = performance.now();
    log.debug(`the edge closed the connection for ${hostname} (${code}${reason ? ` ${reason}` : ""})`);
    for (let attempt = 1; ; attempt++) {
      log.info(`connection to the edge lost; resuming (attempt ${attempt})`);
      try {
        const next = await redial(t);
        log.info(`resumed after ${((performance.now() - lost) / 1000).toFixed(1)} s`);
        return take(next, true);
      } catch (e) {
        const over = performance.now() - lost > graceMs;
        if (!retryable(e) || over) {
          const why = e instanceof WicketError ? e.message : String(e);
          if (over) return settle.reject(temporaryError(`cannot resume the session to ${hostname}: not back within its grace period of ${formatDuration(graceMs)} (${why})`));
          return settle.reject(e instanceof WicketError ? e : temporaryError(`cannot resume the session to ${hostname}: ${why}`));
        }
        log.debug(`resuming failed: ${(e as Error).message}`);
        // the last try goes at the grace's end, not a backoff step past it
        await Bun.sleep(Math.min(BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]!, Math.max(0, graceMs - (performance.now() - lost))));
      }
    }
  }

  take(first, false);
  // between two WebSockets the local side goes on writing, into the replay buffer, up to its bound
  const full = () => end.unacked >= REPLAY_BOUND || (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > CLIENT_HIGH_WATER);
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  return {
    done,
    drained: () => ws.resume(),
    send: (bytes: Uint8Array) => end.write(bytes) && !full(),
    /** Resolves once there is room in the WebSocket's buffer and under the replay bound (or it
     * ended); Bun's client WebSocket has no drain event, so this looks every millisecond. */
    async room() {
      while (!settled && full()) await Bun.sleep(1);
    },
    end: () => end.end(),
    close: () => ws.close(Close.normal, "client closed"),
  };
}

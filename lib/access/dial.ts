// The client's one WebSocket per connection: dial the edge for an application hostname, with
// TLS verifying that hostname, and turn every way it can fail into one sentence and exit code.
import { temporaryError, unreachableError, WicketError } from "../cli/exit.ts";
import { transportError } from "../cli/http.ts";
import { Close } from "../wire/close.ts";
import { CLIENT_HIGH_WATER, ClientMessage, closeError, RESUME_HEADER } from "../wire/client.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER } from "../wire/http.ts";

/** Where a job's ID token comes from (lib/access/workload.ts reads it). */
export type IdTokenSource = { kind: "actions"; url: string; requestToken: string } | { kind: "file"; path: string } | { kind: "env"; token: string };

export interface DialOptions {
  hostname: string;
  /** Where to connect instead of the hostname itself; TLS still names the hostname. */
  edge?: string;
  ca?: string;
  serviceToken?: { id: string; secret: string };
  /** An app token from the browser sign-in (lib/access/signin.ts), sent as a bearer token. */
  appToken?: string;
  /** The job's ID token, to be exchanged for an app token (lib/access/workload.ts). */
  workload?: IdTokenSource;
  connectTimeoutMs?: number;
  /** A resume ticket: dial to resume the stream it names (lib/access/resume.ts). */
  resumeTicket?: string;
  /** Offer resumption: the caller speaks resume records (connectBridge); `doctor`'s banner read does not. */
  resumable?: boolean;
}

/** How the edge closed the connection, for callers that act on it (4401: sign in and retry). */
export class ClosedError extends WicketError {
  constructor(
    err: WicketError,
    readonly code: number,
  ) {
    super(err.message, err.exitCode);
  }
}

/** `https://host[:port]` to connect to for the application: the edge if given, else the hostname. */
export function appOrigin(opts: DialOptions): string {
  if (!opts.edge) return `https://${opts.hostname}`;
  const u = new URL(opts.edge.includes("://") ? opts.edge : `https://${opts.edge}`);
  return `${u.protocol === "http:" || u.protocol === "ws:" ? "http" : "https"}://${u.host}`;
}

export const appUrl = (opts: DialOptions) => `${appOrigin(opts).replace(/^http/, "ws")}/`;

/** Headers that name the application and carry the client's credentials. */
export function appHeaders(opts: DialOptions): Record<string, string> {
  // a bridge offers resumption (unless WICKET_RESUME=0); an edge that does not know the header ignores it
  const headers: Record<string, string> = { host: opts.hostname };
  if (opts.resumeTicket || (opts.resumable && process.env.WICKET_RESUME !== "0")) headers[RESUME_HEADER] = opts.resumeTicket ?? "1";
  if (opts.serviceToken) {
    headers[CLIENT_ID_HEADER] = opts.serviceToken.id;
    headers[CLIENT_SECRET_HEADER] = opts.serviceToken.secret;
  } else if (opts.appToken) {
    headers.authorization = `Bearer ${opts.appToken}`;
  }
  return headers;
}

/** TLS options that verify the application hostname, whatever address we connect to. */
export const appTls = (opts: DialOptions) => ({ servername: opts.hostname, ...(opts.ca ? { ca: opts.ca } : {}) });

/** Maps a failure before the WebSocket opened: its error message, or what fetch threw. */
export function dialError(failure: unknown, opts: DialOptions): WicketError {
  const where = opts.edge ? `the edge at ${opts.edge}` : opts.hostname;
  const message = typeof failure === "string" ? failure : "";
  if (/expected 101/i.test(message)) return unreachableError(`${where} did not accept a WebSocket (${message.replace(/^.*failed: /, "")}); is this a wicket edge?`);
  return transportError(failure, { where, ...appTls(opts) });
}

export interface Held {
  messages: unknown[];
  close?: { code: number; reason: string };
  /** The edge said "open+resume": the stream is resumable and its bytes are resume records. */
  resumable: boolean;
}
/** What arrived between the edge's "open" and bridge(): nothing may be lost in that gap. */
const early = new WeakMap<WebSocket, Held>();
/** What arrived since "open" (and forgets it): for a bridge taking the WebSocket over. */
export function takeHeld(ws: WebSocket): Held | undefined {
  const held = early.get(ws);
  early.delete(ws);
  return held;
}
export const isResumable = (ws: WebSocket) => early.get(ws)?.resumable === true;

/**
 * Opens the WebSocket and waits for the edge to say "open" (let in, routed); rejects with a
 * WicketError if it cannot, a ClosedError when the edge refused. Nothing has been sent then,
 * so a caller may sign in and dial again.
 */
export function dialApp(opts: DialOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(appUrl(opts), { headers: appHeaders(opts), tls: appTls(opts) });
    ws.binaryType = "nodebuffer";
    let message = "";
    const timer = setTimeout(() => {
      ws.terminate?.();
      reject(unreachableError(`timed out connecting to ${opts.edge ?? opts.hostname} for ${opts.hostname}`));
    }, opts.connectTimeoutMs ?? 15_000);
    ws.onerror = (ev) => {
      message = (ev as ErrorEvent).message ?? "";
    };
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (ev) => {
      if (ev.data !== ClientMessage.open && ev.data !== ClientMessage.openResumable) return;
      clearTimeout(timer);
      ws.onerror = null;
      // Until bridge() takes over, keep what arrives: the origin's first bytes, or its close,
      // may come in the same read as "open".
      const held: Held = { messages: [], resumable: ev.data === ClientMessage.openResumable };
      early.set(ws, held);
      ws.onmessage = (e) => held.messages.push(e.data);
      ws.onclose = (e) => (held.close = { code: e.code, reason: e.reason });
      resolve(ws);
    };
    ws.onclose = (ev) => {
      clearTimeout(timer);
      if (!opened) return reject(dialError(message, opts));
      const err = closeError(ev.code, ev.reason, opts.hostname) ?? temporaryError(`the edge closed the connection for ${opts.hostname} before letting it through`);
      reject(new ClosedError(err, ev.code));
    };
  });
}

/** The local end of a bridge: stdin/stdout for `access ssh`, a TCP socket for `access tcp`. */
export interface Local {
  /** false: stop sending until drained() is called. */
  write(bytes: Uint8Array): boolean;
  /** The origin will send no more. */
  end(): void;
}

/**
 * Pumps one open WebSocket against a local end. Returns the sink for local bytes and a promise
 * that settles when the edge closes the connection: resolves on a normal end, rejects with the
 * mapped error otherwise.
 */
export function bridge(ws: WebSocket, local: Local, hostname: string) {
  let sendFin = false;
  const done = new Promise<void>((resolve, reject) => {
    const onMessage = (data: unknown) => {
      if (typeof data === "string") {
        if (data === ClientMessage.fin) local.end();
        return;
      }
      if (!local.write(data as Uint8Array)) ws.pause();
    };
    const onClose = (code: number, reason: string) => {
      const err = closeError(code, reason, hostname);
      if (err) reject(new ClosedError(err, code));
      else resolve();
    };
    const held = takeHeld(ws);
    for (const m of held?.messages ?? []) onMessage(m);
    if (held?.close) return onClose(held.close.code, held.close.reason);
    ws.onmessage = (ev) => onMessage(ev.data);
    ws.onclose = (ev) => onClose(ev.code, ev.reason);
  });
  return {
    done,
    /** The local sink drained: read from the edge again. */
    drained: () => ws.resume(),
    /** Sends local bytes; false means stop reading the source until room() resolves. */
    send(bytes: Uint8Array): boolean {
      if (ws.readyState !== WebSocket.OPEN) return true;
      ws.send(bytes);
      return ws.bufferedAmount <= CLIENT_HIGH_WATER;
    },
    /** Resolves once the WebSocket's buffer has gone down (or it closed). Bun's client
     * WebSocket has no drain event, so this looks every millisecond while it waits. */
    async room() {
      while (ws.bufferedAmount > CLIENT_HIGH_WATER && ws.readyState === WebSocket.OPEN) await Bun.sleep(1);
    },
    /** The local side has no more to send: half-close towards the origin. */
    end() {
      if (sendFin || ws.readyState !== WebSocket.OPEN) return;
      sendFin = true;
      ws.send(ClientMessage.fin);
    },
    close: () => ws.close(Close.normal, "client closed"),
  };
}

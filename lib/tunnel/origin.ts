// Origins: where a connector sends a stream (`ssh://host:port`, `tcp://host:port`), and the
// byte pump between a stream and a TCP connection to the origin.
import type { Socket } from "bun";
import { usageError } from "../cli/exit.ts";
import { splitHostPort } from "../net/address.ts";
import { ResetCode } from "../wire/frame.ts";
import type { Stream } from "../wire/mux.ts";

export interface Origin {
  url: string;
  hostname: string;
  port: number;
}

const DEFAULT_PORTS: Record<string, number> = { "ssh:": 22, "tcp:": 0 };

/** `ssh://HOST[:PORT]`, `tcp://HOST:PORT` or a bare HOST:PORT (tcp), HOST:PORT as
 * lib/net/address.ts reads it. `where` names the value in errors: the flag, or a place in the config file. */
export function parseOrigin(raw: string, where = "--url"): Origin {
  const text = raw.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(text);
  const scheme = `${(m?.[1] ?? "tcp").toLowerCase()}:`;
  if (!(scheme in DEFAULT_PORTS)) throw usageError(`${where} "${raw}" has an unsupported scheme; use ssh:// or tcp://`);
  const a = splitHostPort((m?.[2] ?? text).replace(/\/$/, ""), DEFAULT_PORTS[scheme]);
  if (!a) throw usageError(`${where} "${raw}" is not a valid origin; use ssh://localhost:22 or tcp://host:port`);
  if (!a.hostname || !a.port) throw usageError(`${where} "${raw}" needs a host and a port, for example tcp://localhost:5432`);
  const hostname = a.hostname.toLowerCase();
  return { url: `${scheme}//${hostname.includes(":") ? `[${hostname}]` : hostname}:${a.port}`, hostname, port: a.port };
}

export interface PumpHooks {
  /** The origin could not be reached: one call per stream. */
  onOriginError?(origin: Origin, message: string): void;
  /** The TCP connection to the origin is up, `ms` after the dial began. */
  onDialed?(origin: Origin, ms: number): void;
  /** Bytes that left for the origin, or came from it. */
  onBytes?(direction: "to_origin" | "from_origin", n: number): void;
}

/** An origin that neither accepts nor refuses (a dropped SYN) fails the stream after this. */
export const ORIGIN_DIAL_TIMEOUT_MS = 10_000;

/**
 * Connects a stream to its origin. Bytes from the stream are written to the socket and
 * acknowledged once the socket took them; bytes from the socket go to the stream, and the
 * socket is paused while the stream's queue waits for credit.
 */
export function pumpToOrigin(stream: Stream, origin: Origin, hooks: PumpHooks = {}) {
  let sock: Socket<undefined> | undefined;
  const out: Uint8Array[] = []; // bytes for the origin that the socket did not take yet
  let endAfterFlush = false;
  let closed = false;
  let failed = false;
  const started = performance.now();

  const fail = (why: string) => {
    if (failed || closed) return;
    failed = true;
    hooks.onOriginError?.(origin, why);
    stream.reset(ResetCode.originUnreachable, `the connector cannot reach origin ${origin.url} (${why})`);
  };
  const dialTimer = setTimeout(() => fail(`no answer within ${ORIGIN_DIAL_TIMEOUT_MS / 1000} s`), ORIGIN_DIAL_TIMEOUT_MS);

  const flush = () => {
    if (!sock) return;
    while (out.length > 0) {
      const head = out[0]!;
      const n = Math.max(sock.write(head), 0);
      // what the socket took returns its credit now, also from a short write: credit held
      // back for it would never come back, and the stream's window would shrink each time
      if (n > 0) {
        stream.ack(n);
        hooks.onBytes?.("to_origin", n);
      }
      if (n < head.byteLength) {
        out[0] = head.subarray(n);
        return;
      }
      out.shift();
    }
    if (endAfterFlush) sock.shutdown();
  };

  stream.onData = (bytes) => {
    out.push(bytes);
    if (out.length === 1) flush();
  };
  stream.onEnd = () => {
    endAfterFlush = true;
    if (out.length === 0) flush();
  };
  stream.onDrain = () => sock?.resume();
  stream.onClose = () => {
    closed = true;
    clearTimeout(dialTimer);
    sock?.end();
  };

  Bun.connect({
    hostname: origin.hostname,
    port: origin.port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        clearTimeout(dialTimer);
        if (closed || failed) return void s.end();
        hooks.onDialed?.(origin, performance.now() - started);
        sock = s;
        s.setNoDelay(true);
        flush();
      },
      data(s, chunk) {
        hooks.onBytes?.("from_origin", chunk.byteLength);
        if (!stream.write(chunk)) s.pause();
      },
      drain: () => flush(),
      end() {
        stream.end();
      },
      close(_s, err) {
        sock = undefined;
        if (closed || failed) return;
        if (err) stream.reset(ResetCode.originUnreachable, `connection to origin ${origin.url} failed: ${err.message}`);
        else stream.end();
      },
      error(_s, err) {
        // an established connection broke; close() tells the client
        hooks.onOriginError?.(origin, `connection broke: ${err.message}`);
      },
    },
  }).catch((err: Error & { code?: string }) => {
    clearTimeout(dialTimer);
    fail(err.code ?? err.message);
  });
}

// Origins: where a connector sends a stream (`ssh://host:port`, `tcp://host:port`), and the
// byte pump between a stream and a TCP connection to the origin.
import type { Socket } from "bun";
import { usageError } from "../cli/exit.ts";
import { ResetCode } from "../wire/frame.ts";
import type { Stream } from "../wire/mux.ts";

export interface Origin {
  url: string;
  hostname: string;
  port: number;
}

const DEFAULT_PORTS: Record<string, number> = { "ssh:": 22, "tcp:": 0 };

export function parseOrigin(raw: string): Origin {
  let u: URL;
  try {
    u = new URL(raw.includes("://") ? raw : `tcp://${raw}`);
  } catch {
    throw usageError(`--url "${raw}" is not a valid origin; use ssh://localhost:22 or tcp://host:port`);
  }
  if (!(u.protocol in DEFAULT_PORTS)) throw usageError(`--url "${raw}" has an unsupported scheme; use ssh:// or tcp://`);
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[u.protocol]!;
  if (!u.hostname || !port) throw usageError(`--url "${raw}" needs a host and a port, for example tcp://localhost:5432`);
  return { url: `${u.protocol}//${u.host}${u.port ? "" : `:${port}`}`, hostname: u.hostname.replace(/^\[|\]$/g, ""), port };
}

export interface PumpStats {
  onOriginError?(origin: Origin, message: string): void;
}

/**
 * Connects a stream to its origin. Bytes from the stream are written to the socket and
 * acknowledged once the socket took them; bytes from the socket go to the stream, and the
 * socket is paused while the stream's queue waits for credit.
 */
export function pumpToOrigin(stream: Stream, origin: Origin, hooks: PumpStats = {}) {
  let sock: Socket<undefined> | undefined;
  const out: Uint8Array[] = []; // bytes for the origin that the socket did not take yet
  let endAfterFlush = false;
  let closed = false;

  const flush = () => {
    if (!sock) return;
    while (out.length > 0) {
      const head = out[0]!;
      const n = sock.write(head);
      if (n < head.byteLength) {
        out[0] = head.subarray(Math.max(n, 0));
        return;
      }
      out.shift();
      stream.ack(head.byteLength);
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
    sock?.end();
  };

  Bun.connect({
    hostname: origin.hostname,
    port: origin.port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        if (closed) return void s.end();
        sock = s;
        s.setNoDelay(true);
        flush();
      },
      data(s, chunk) {
        if (!stream.write(chunk)) s.pause();
      },
      drain: () => flush(),
      end() {
        stream.end();
      },
      close(_s, err) {
        sock = undefined;
        if (closed) return;
        if (err) stream.reset(ResetCode.originUnreachable, `connection to origin ${origin.url} failed: ${err.message}`);
        else stream.end();
      },
      error(_s, err) {
        hooks.onOriginError?.(origin, err.message);
      },
    },
  }).catch((err: Error & { code?: string }) => {
    const why = err.code ?? err.message;
    hooks.onOriginError?.(origin, why);
    stream.reset(ResetCode.originUnreachable, `the connector cannot reach origin ${origin.url} (${why})`);
  });
}

// A free TCP port on 127.0.0.1, for servers that cannot listen on port 0 themselves (sshd).
// Everything that can take port 0 should: this leaves a small race, which callers retry.

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port` (a server that logs its
 * address before it binds); rejects after `timeoutMs`. */
export async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
    if (ok) return;
    // the next attempt follows the refusal itself (an event, not a timer): the server binds within milliseconds of its log line
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
  }
}

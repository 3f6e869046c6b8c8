// A free TCP port on 127.0.0.1, for servers that cannot listen on port 0 themselves (sshd).
// Everything that can take port 0 should: this leaves a small race, which callers retry.

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

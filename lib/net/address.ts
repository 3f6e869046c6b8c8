// Hosts and ports as wicket reads them: HOST:PORT (listen addresses, Host headers), IPv6 in
// brackets, and this machine's own names. Pure, and free of the store: the CLI loads it.

/**
 * An IPv6 address as URLs and Host headers write it, `[::1]`, to the bare `::1` that sockets,
 * `isIP`, TLS names and the store take; anything else as it is. `new URL(u).hostname` keeps
 * the brackets, so every host taken from a URL goes through here before a socket sees it.
 */
export const unbracket = (host: string): string => (host.length > 1 && host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);

/** A bracketed IPv6 address (a zone id after "%" allowed), a name or an IPv4 address. */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[\w.-]+)?)\]|([^\s[\]/@?#:]*))(?::(\d{1,5}))?$/;

/**
 * HOST:PORT, as a listen address or a Host header writes it: `127.0.0.1:9090`, `[::1]:9090`,
 * `edge.example.com:443`, `:9090` (no host: the caller's default). An IPv6 address needs its
 * brackets (`::1:9090` could be an address or an address and a port). Without `:PORT`, the
 * port is `defaultPort`, and when there is none, `raw` is not HOST:PORT. The hostname is
 * returned as written but without brackets; undefined when `raw` is not HOST:PORT.
 */
export function splitHostPort(raw: string, defaultPort?: number): { hostname: string; port: number } | undefined {
  const m = HOST_PORT.exec(raw.trim());
  if (!m) return undefined;
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port === undefined || port > 65535) return undefined;
  return { hostname: m[1] ?? m[2] ?? "", port };
}

/** This machine's names for itself, as a URL's hostname writes them (IPv6 in brackets). */
export const isLoopbackHost = (hostname: string): boolean => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(hostname);

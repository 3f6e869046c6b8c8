// The connector's metrics, named in one place.
import { createRegistry, type Registry } from "../metrics/registry.ts";

const DIAL_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

export function createTunnelMetrics(registry: Registry = createRegistry()) {
  return {
    registry,
    connections: registry.gauge("wicket_tunnel_connections", "Connections to the edge that are registered and take new streams"),
    reconnects: registry.counter("wicket_tunnel_reconnects_total", "Connection attempts made to replace a lost, failed or moved connection"),
    lost: registry.counter("wicket_tunnel_connections_lost_total", "Registered connections that ended, by reason (closed, keepalive, moved)"),
    streamsOpen: registry.gauge("wicket_tunnel_streams_open", "Streams being served now"),
    streams: registry.counter("wicket_tunnel_streams_total", "Streams served since start"),
    bytes: registry.counter("wicket_tunnel_bytes_total", "Bytes carried, by direction (to_origin, from_origin)"),
    originErrors: registry.counter("wicket_tunnel_origin_dial_errors_total", "Streams whose origin could not be reached, by origin"),
    originDial: registry.histogram("wicket_tunnel_origin_dial_seconds", "Time to connect to the origin, by origin", DIAL_BUCKETS),
    draining: registry.gauge("wicket_tunnel_draining", "1 while draining after SIGTERM"),
  };
}

export type TunnelMetrics = ReturnType<typeof createTunnelMetrics>;

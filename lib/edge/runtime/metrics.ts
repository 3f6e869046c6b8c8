// The edge's metrics, named in one place; served on the admin listener (`edge serve --metrics`).
import { createRegistry, type Registry } from "../../metrics/registry.ts";
import type { Connectors } from "../streams/connectors.ts";

export function createEdgeMetrics(registry: Registry = createRegistry()) {
  return {
    registry,
    connections: registry.gauge("wicket_edge_connector_connections", "Connector connections registered here, by state (up, draining)"),
    connectors: registry.gauge("wicket_edge_connectors", "Distinct connectors with a registered connection here"),
    disconnects: registry.counter("wicket_edge_connector_disconnects_total", "Connector connections that ended, by reason (closed, keepalive)"),
    streamsOpen: registry.gauge("wicket_edge_streams_open", "Client streams open now"),
    streams: registry.counter("wicket_edge_streams_total", "Client streams opened to a connector since start"),
    decisions: registry.counter("wicket_edge_decisions_total", "Access decisions, by decision (allow, deny)"),
    resumes: registry.counter("wicket_edge_resumes_total", "Resumes of a stream after a cut, by result (resumed, refused) and reason (ticket, decision, no_connector, not_resumable)"),
    noConnector: registry.counter("wicket_edge_no_connector_total", "Clients turned away because no connector served their hostname"),
    bytes: registry.counter("wicket_edge_bytes_total", "Bytes carried, by direction (to_origin, to_client)"),
    clientTimeouts: registry.counter("wicket_edge_client_keepalive_timeouts_total", "Client connections closed because they stopped answering"),
    draining: registry.gauge("wicket_edge_draining", "1 while the edge drains after SIGTERM"),
    unknownHost: registry.counter("wicket_edge_unknown_host_total", "Client upgrades and certificate requests for a hostname that is no application (counted, not audited)"),
    deniesUnaudited: registry.counter("wicket_edge_denials_unaudited_total", "Denials not written to the audit because their address passed its limit of denial rows a minute"),
    rateLimited: registry.counter("wicket_edge_rate_limited_total", "Sign-in requests refused by a rate limit, by endpoint (pin_request, pin_guess, device_code, oidc_start)"),
    acmeOrders: registry.counter("wicket_edge_acme_orders_total", "ACME certificate orders, by result (issued, failed)"),
    terminalsOpen: registry.gauge("wicket_edge_browser_terminals_open", "Browser terminals (SSH in the browser) open now"),
    terminals: registry.counter("wicket_edge_browser_terminals_total", "Browser terminals opened since start, by result (connected, refused, failed)"),
    recordings: registry.counter("wicket_edge_recordings_total", "Recordings of browser terminal sessions started"),
    recordingBytes: registry.counter("wicket_edge_recording_bytes_total", "Bytes of asciicast written to recordings"),
    certificateExpiry: registry.gauge("wicket_edge_certificate_expiry_timestamp_seconds", "When each ACME certificate expires (Unix seconds), by name"),
  };
}

export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>;

/** The gauges that follow connector connections and client streams. */
export function refreshGauges(metrics: EdgeMetrics, connectors: Connectors, streamsOpen: number) {
  // counts the registry keeps: this runs at every registration and close
  const up = connectors.up();
  metrics.connections.set(up, { state: "up" });
  metrics.connections.set(connectors.size() - up, { state: "draining" });
  metrics.connectors.set(connectors.connectors());
  metrics.streamsOpen.set(streamsOpen);
}

// The HTTP side of the wire: where connectors connect and how clients present credentials.
export const CONNECT_PATH = "/connect";
/** Service token headers (cloudflared's are CF-Access-Client-Id/Secret). */
export const CLIENT_ID_HEADER = "wicket-access-client-id";
export const CLIENT_SECRET_HEADER = "wicket-access-client-secret";
/** On an application's hostname: POST a public key, get a short-lived SSH certificate. */
export const SSH_CERT_PATH = "/.well-known/wicket/ssh-cert";
/** On the edge's host: the SSH CA's public key, for sshd's TrustedUserCAKeys. */
export const SSH_CA_PATH = "/ssh-ca.pub";

// OAuth between the CLI and the edge (lib/access/oauth.ts, lib/edge/signin/oauth.ts).
/** The one client: the wicket CLI, a public client (RFC 8628 3.1: no secret on a device). */
export const CLIENT_ID = "wicket";
/** RFC 8414 server metadata, on the edge's host and on every application's. */
export const METADATA_PATH = "/.well-known/oauth-authorization-server";
export const JWKS_PATH = "/.well-known/jwks.json";
export const DEVICE_PATH = "/oauth/device";
export const TOKEN_PATH = "/oauth/token";
export const REVOKE_PATH = "/oauth/revoke";
/** Where a person confirms a device code in the browser. */
export const VERIFY_PATH = "/device";
export const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** RFC 8693: a workload's ID token (GitHub Actions, GitLab, Kubernetes) for an app token. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
export const ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";

// Edge <-> edge (a cluster on PostgreSQL): a node dials a peer's PEER_PATH with the cluster
// secret as a bearer token and its node id in NODE_HEADER; the link is the connector wire
// (lib/wire/mux.ts), the dialing node opening the streams.
export const PEER_PATH = "/peer";
export const NODE_HEADER = "wicket-node";
/** A node's own live sessions, every zone's, for a peer that presents the cluster secret (GET):
 * the node the caller asked filters them by the caller's zones (lib/edge/cluster/sessions.ts). */
export const PEER_SESSIONS_PATH = "/peer/sessions";

/** `wicket doctor` asks here (GET): on an application's hostname, the edge's version, the
 * application and, for the caller's own credentials, their decision and the connectors; on the
 * edge's host, whether a connector's credential is live (lib/edge/http/doctor.ts, lib/wire/doctor.ts). */
export const DOCTOR_PATH = "/.well-known/wicket/doctor";

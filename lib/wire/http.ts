// The HTTP side of the wire: where connectors connect and how clients present credentials.
export const CONNECT_PATH = "/connect";
/** Service token headers (cloudflared's are CF-Access-Client-Id/Secret). */
export const CLIENT_ID_HEADER = "wicket-access-client-id";
export const CLIENT_SECRET_HEADER = "wicket-access-client-secret";
/** On an application's hostname: POST a public key, get a short-lived SSH certificate. */
export const SSH_CERT_PATH = "/.well-known/wicket/ssh-cert";
/** On the edge's host: the SSH CA's public key, for sshd's TrustedUserCAKeys. */
export const SSH_CA_PATH = "/ssh-ca.pub";

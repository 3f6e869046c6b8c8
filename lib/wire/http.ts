// The HTTP side of the wire: where connectors connect and how clients present credentials.
export const CONNECT_PATH = "/connect";
/** Service token headers (cloudflared's are CF-Access-Client-Id/Secret). */
export const CLIENT_ID_HEADER = "wicket-access-client-id";
export const CLIENT_SECRET_HEADER = "wicket-access-client-secret";

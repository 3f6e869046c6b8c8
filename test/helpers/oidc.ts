// A real OpenID Connect provider for tests: the `oidc-provider` package, in this process, on
// 127.0.0.1 port 0, with its development login and consent pages (any login name is accepted;
// the name is the account). The listener starts first so that the edge can be configured with
// the issuer; the client, whose redirect URI names the edge's port, is registered afterwards.
import Provider from "oidc-provider";
import { createServer, type Server } from "node:http";

/**
 * `unixUser`: a custom claim, `unix_user`, as a directory may give each person.
 * `emailVerified`: the `email_verified` claim; true unless set, and not sent at all when "absent".
 */
export type OidcUser = { groups: string[]; unixUser?: string; emailVerified?: boolean | "absent" };

export interface TestOidc extends AsyncDisposable {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Registers the edge as a client; call once the edge's callback URL is known. */
  register(redirectUris: string[]): void;
  stop(): Promise<void>;
}

export async function startOidc(users: Record<string, OidcUser>): Promise<TestOidc> {
  const server: Server = createServer((_req, res) => {
    res.statusCode = 503;
    res.end("the test provider is not configured yet\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const clientId = "wicket-edge";
  const clientSecret = crypto.randomUUID();

  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    issuer,
    clientId,
    clientSecret,
    register(redirectUris) {
      // Its warnings say what a production deployment must change (in-memory storage, dev
      // keys, dev login pages): all as intended here, so they stay out of the test output.
      const warn = console.warn;
      console.warn = () => {};
      let provider: Provider;
      try {
        provider = new Provider(issuer, {
          clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, grant_types: ["authorization_code"], response_types: ["code"] }],
          async findAccount(_ctx, id) {
            const user = users[id];
            if (!user) return undefined;
            const verified = user.emailVerified === "absent" ? {} : { email_verified: user.emailVerified ?? true };
            return { accountId: id, claims: async () => ({ sub: id, email: id, ...verified, groups: user.groups, ...(user.unixUser ? { unix_user: user.unixUser } : {}) }) };
          },
          claims: { openid: ["sub", "unix_user"], email: ["email", "email_verified"], groups: ["groups"] },
          // E-mail and groups in the ID token itself, as Okta or Keycloak can be set up to do.
          conformIdTokenClaims: false,
          ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
        });
      } finally {
        console.warn = warn;
      }
      server.removeAllListeners("request");
      server.on("request", provider.callback());
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

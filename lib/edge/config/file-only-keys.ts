// What the keys of edge.yaml that are no flag of `edge serve` mean (scripts/docs.ts writes docs/config.md from these).
import type { EdgeFileConfig } from "./file.ts";

/** What the keys that are no flag of `edge serve` mean, for docs/config.md (scripts/docs.ts
 * writes its table from these and the flags' own descriptions, so the page cannot drift). */
export const FILE_ONLY_KEYS: Partial<Record<keyof EdgeFileConfig, string>> = {
  "session-length": "how long one sign-in lasts, browser and CLI alike, e.g. 24h (the default)",
  "app-session-length": "how long an app token lasts unless its application sets its own (never past the sign-in), e.g. 24h",
  "device-code-lifetime": "how long a CLI's sign-in code may wait for approval (default 10m)",
  "device-poll-interval": "how often a CLI may ask whether its code was approved (default 5s)",
  "pin-lifetime": "how long an e-mailed PIN is good for (default 10m)",
  smtp: "the mail server for PINs: { host, port, secure, user, password, from, ca-file }; host and from are required",
  "connector-limits": "per edge node, what connectors may hold, raised or lowered: { connections-per-tunnel, connections-per-credential, connections-per-zone, hostnames-per-zone } (defaults 128, 512, 4096, 4096)",
  "workload-issuers":
    "issuers of CI jobs' and other workloads' ID tokens, for workload: policy rules (docs/ci.md): a list of { name, issuer, audience, ca-file, max-stale }; issuer is exactly the tokens' iss (https; http only on 127.0.0.1), audience the aud they must carry (default: the public URL), max-stale how long keys last fetched stay in use while the issuer cannot be reached (default 1h)",
  admins: "who administers the whole edge as themselves, signed in with the edge's sign-in: a list of rules in the policy grammar, e.g. [email:ops@example.com, domain:example.com, group:platform] (also `--admin` on `edge serve`, repeatable); zone admins are each zone's (`edge zone add --admin`)",
  "admins-require": "mfa: the edge's admins count as such only when they signed in with a second factor (the amr claim)",
  "identity-providers": "a list of { name, type: otp } (PIN by e-mail) and { name, type: oidc, issuer, client-id, client-secret, scopes, groups-claim, display-name, ca-file, trust-email } (default: one PIN provider)",
};

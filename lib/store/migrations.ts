// The schema, as an ordered list of migrations. Append only: a released migration never
// changes. Portable SQL for SQLite and PostgreSQL alike: TEXT / INTEGER / BIGINT columns,
// timestamps as epoch milliseconds (BIGINT), booleans as INTEGER, JSON as TEXT.
export type Migration = { version: number; name: string; statements: string[] };

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "zones, apps, tokens, policies, credentials",
    statements: [
      `CREATE TABLE zones (
        name TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE apps (
        hostname TEXT PRIMARY KEY,
        zone TEXT NOT NULL REFERENCES zones(name),
        created_at BIGINT NOT NULL
      )`,
      `CREATE INDEX apps_zone ON apps (zone)`,
      `CREATE TABLE service_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      // A name is unique among live tokens; a revoked token keeps its row for audit.
      `CREATE UNIQUE INDEX service_tokens_live_name ON service_tokens (name) WHERE revoked_at IS NULL`,
      `CREATE TABLE policies (
        id TEXT PRIMARY KEY,
        app TEXT NOT NULL REFERENCES apps(hostname),
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        position INTEGER NOT NULL,
        rules TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX policies_app_name ON policies (app, name)`,
      `CREATE TABLE zone_credentials (
        id TEXT PRIMARY KEY,
        zone TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE INDEX zone_credentials_zone ON zone_credentials (zone)`,
      `CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX admin_tokens_name ON admin_tokens (name)`,
    ],
  },
  {
    version: 10,
    name: "sign-in: users, org sessions, device codes, PINs, OIDC logins, zone admins, signing keys",
    statements: [
      `CREATE TABLE users (
        email TEXT PRIMARY KEY,
        idp TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_sign_in_at BIGINT NOT NULL
      )`,
      // One table for both kinds of org session: "browser" (the edge's cookie) and "cli"
      // (the refresh token a client keeps in ~/.wicket/<edge>-session). Secrets only as hashes.
      `CREATE TABLE org_sessions (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        email TEXT NOT NULL,
        idp TEXT NOT NULL,
        groups TEXT NOT NULL,
        amr TEXT NOT NULL,
        ip TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE INDEX org_sessions_email ON org_sessions (email)`,
      `CREATE TABLE device_codes (
        id TEXT PRIMARY KEY,
        code_hash TEXT NOT NULL UNIQUE,
        user_code TEXT NOT NULL UNIQUE,
        purpose TEXT NOT NULL,
        app TEXT,
        client_ip TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        session_id TEXT,
        zone TEXT,
        interval_ms BIGINT NOT NULL,
        last_poll_at BIGINT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE TABLE pins (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        pin_hash TEXT NOT NULL,
        browser_hash TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
      )`,
      `CREATE INDEX pins_email ON pins (email, created_at)`,
      `CREATE TABLE oidc_logins (
        state_hash TEXT PRIMARY KEY,
        idp TEXT NOT NULL,
        nonce TEXT NOT NULL,
        code_verifier TEXT NOT NULL,
        browser_hash TEXT NOT NULL,
        return_to TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE TABLE zone_admins (
        zone TEXT NOT NULL REFERENCES zones(name) ON DELETE CASCADE,
        principal TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (zone, principal)
      )`,
      `CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT
      )`,
    ],
  },
  // 20–29: access policies, audit and revocation (issue 8).
  {
    version: 20,
    name: "session length per application, audit, user revocations, access revision",
    statements: [
      // NULL: the edge's default session length.
      `ALTER TABLE apps ADD COLUMN session_length_ms BIGINT`,
      // One row per decision, session end or admin action; columns a kind does not use are NULL.
      `CREATE TABLE audit (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        allowed INTEGER,
        identity TEXT,
        email TEXT,
        token_id TEXT,
        host TEXT,
        app TEXT,
        ip TEXT,
        policy_id TEXT,
        policy_name TEXT,
        rule TEXT,
        reason TEXT,
        session_id TEXT,
        bytes_to_origin BIGINT,
        bytes_to_client BIGINT,
        duration_ms BIGINT,
        actor TEXT,
        action TEXT,
        target TEXT
      )`,
      `CREATE INDEX audit_at ON audit (at)`,
      `CREATE INDEX audit_email ON audit (email)`,
      `CREATE INDEX audit_host ON audit (host)`,
      `CREATE INDEX audit_session ON audit (session_id)`,
      // Credentials of a user issued before revoked_before are refused.
      `CREATE TABLE user_revocations (
        email TEXT PRIMARY KEY,
        revoked_before BIGINT NOT NULL,
        revoked_by TEXT
      )`,
      // Bumped by every change that can take access away (policies, tokens, users, apps):
      // every edge node polls it and re-checks its live sessions when it moves.
      `CREATE TABLE access_revision (
        id INTEGER PRIMARY KEY,
        revision BIGINT NOT NULL
      )`,
      `INSERT INTO access_revision (id, revision) VALUES (1, 0)`,
    ],
  },
  // 30–39: short-lived SSH certificates (issue 4).
  {
    version: 30,
    name: "ssh certificate authority and principals",
    statements: [
      `CREATE TABLE ssh_ca (
        id TEXT PRIMARY KEY,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      // The Unix user a service token's certificates name.
      `CREATE TABLE ssh_token_principals (
        token_id TEXT PRIMARY KEY,
        principal TEXT NOT NULL
      )`,
      // How an application turns a user into a principal: localpart (default), email, claim:<name>.
      `CREATE TABLE ssh_app_principals (
        app TEXT PRIMARY KEY,
        mode TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 31,
    name: "what the identity provider said of a signed-in user",
    statements: [
      // JSON: the OpenID Connect claims, for principals named by a claim (claim:<name>).
      `ALTER TABLE org_sessions ADD COLUMN claims TEXT NOT NULL DEFAULT '{}'`,
    ],
  },
  {
    version: 32,
    name: "principal settings of applications removed before removal forgot them",
    statements: [`DELETE FROM ssh_app_principals WHERE app NOT IN (SELECT hostname FROM apps)`],
  },
  // 40–49: revocation on every node of a cluster (issue 8).
  {
    version: 40,
    name: "sessions revoked through any node",
    statements: [
      // The node that holds the session cuts it when the access revision moves.
      `CREATE TABLE session_revocations (
        session_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        revoked_at BIGINT NOT NULL
      )`,
    ],
  },
  // 50–59: named tunnels, and zone credentials that expire and can be revoked (issue 13).
  {
    version: 50,
    name: "named tunnels, their routes, and zone credentials with an owner and an expiry",
    statements: [
      `CREATE TABLE tunnels (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        zone TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (zone, name)
      )`,
      // A hostname is served by exactly one tunnel (cloudflared's DNS record).
      `CREATE TABLE tunnel_routes (
        hostname TEXT PRIMARY KEY,
        tunnel_id TEXT NOT NULL REFERENCES tunnels(id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL
      )`,
      `CREATE INDEX tunnel_routes_tunnel ON tunnel_routes (tunnel_id)`,
      // Who obtained the credential (an e-mail, or "admin:<token name>"), when it ends and when it was last used.
      `ALTER TABLE zone_credentials ADD COLUMN obtained_by TEXT NOT NULL DEFAULT ''`,
      `ALTER TABLE zone_credentials ADD COLUMN expires_at BIGINT`,
      `ALTER TABLE zone_credentials ADD COLUMN last_used_at BIGINT`,
    ],
  },
  // 60–69: an SSH CA per application (issue 14).
  {
    version: 60,
    name: "an SSH certificate authority per application",
    statements: [
      // A certificate obtained at one application must open no other application's server.
      // The edge-wide ssh_ca stays, signing nothing, so its public key can still be read.
      `CREATE TABLE ssh_app_cas (
        app TEXT PRIMARY KEY REFERENCES apps(hostname) ON DELETE CASCADE,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
    ],
  },
  // 70–79: honest authentication methods (issue 14).
  {
    version: 70,
    name: "e-mail PIN sign-ins are one factor",
    statements: [
      // A PIN by e-mail was recorded as "otp", which counts as a second factor for --require mfa.
      // PIN sign-ins carry no provider claims; those of OpenID Connect keep what their provider said.
      `UPDATE org_sessions SET amr = '["email"]' WHERE amr = '["otp"]' AND claims = '{}'`,
    ],
  },
  // 80–89: edge nodes that route to each other (issue 15).
  {
    version: 80,
    name: "the cluster's nodes, what each holds connectors for, and the secret of their peer links",
    statements: [
      `CREATE TABLE edge_nodes (
        id TEXT PRIMARY KEY,
        peer_url TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        draining INTEGER NOT NULL DEFAULT 0
      )`,
      `CREATE TABLE node_hostnames (
        node_id TEXT NOT NULL REFERENCES edge_nodes(id) ON DELETE CASCADE,
        hostname TEXT NOT NULL,
        connections INTEGER NOT NULL,
        PRIMARY KEY (node_id, hostname)
      )`,
      `CREATE INDEX node_hostnames_hostname ON node_hostnames (hostname)`,
      // One row: what a node shows a peer to be let onto its peer endpoint.
      `CREATE TABLE cluster_secret (
        id INTEGER PRIMARY KEY,
        secret TEXT NOT NULL
      )`,
    ],
  },
  // 90–99: ACME certificates (issue 19).
  {
    version: 90,
    name: "ACME: the account, the certificates of the edge's host and applications, and HTTP-01 answers",
    statements: [
      // One account per ACME directory; its key is the account.
      `CREATE TABLE acme_accounts (
        directory TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      // A row per name the edge wants a certificate for; cert_pem is NULL until the first order
      // succeeds. retry_at: when to try again after failures (NULL: at two thirds of the lifetime).
      `CREATE TABLE acme_certificates (
        name TEXT PRIMARY KEY,
        cert_pem TEXT,
        key_pem TEXT,
        issuer TEXT,
        not_before BIGINT,
        not_after BIGINT,
        renewed_at BIGINT,
        failures INTEGER NOT NULL DEFAULT 0,
        retry_at BIGINT,
        last_error TEXT,
        last_attempt_at BIGINT
      )`,
      // HTTP-01 answers, in the store because the CA may ask any node of a cluster.
      `CREATE TABLE acme_challenges (
        token TEXT PRIMARY KEY,
        key_authorization TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
    ],
  },
  // 100–109: SSH in the browser, and recordings of those sessions (issue 16).
  {
    version: 100,
    name: "browser SSH per application, its pinned host key, sign-in hand-offs, recordings",
    statements: [
      // A row per application that opted in; host_key is pinned on first use (NULL until then).
      `CREATE TABLE browser_ssh_apps (
        app TEXT PRIMARY KEY REFERENCES apps(hostname) ON DELETE CASCADE,
        enabled INTEGER NOT NULL DEFAULT 0,
        record INTEGER NOT NULL DEFAULT 0,
        record_input INTEGER NOT NULL DEFAULT 0,
        host_key TEXT,
        host_key_pinned_at BIGINT,
        refused_host_key TEXT
      )`,
      // One-time codes that carry a browser's sign-in from the edge's host to an application's.
      `CREATE TABLE browser_handoffs (
        code_hash TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        token TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      // asciicast v2, appended as the session runs; ended_at NULL while it does.
      `CREATE TABLE recordings (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        app TEXT NOT NULL,
        host TEXT NOT NULL,
        identity TEXT NOT NULL,
        email TEXT,
        principal TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        bytes BIGINT NOT NULL DEFAULT 0,
        input INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
      )`,
      `CREATE INDEX recordings_started ON recordings (started_at)`,
      `ALTER TABLE audit ADD COLUMN recording_id TEXT`,
    ],
  },
  // 110–119: what an application's SSH certificates may name and permit (issue 14).
  {
    version: 110,
    name: "per application: SSH certificates for system accounts, and extensions beyond the defaults",
    statements: [
      `ALTER TABLE apps ADD COLUMN allow_system_principals INTEGER NOT NULL DEFAULT 0`,
      // a comma list of agent, x11, user-rc ('' for none: a terminal and port forwarding only)
      `ALTER TABLE apps ADD COLUMN ssh_extensions TEXT NOT NULL DEFAULT ''`,
    ],
  },
  // 120–129: recordings in chunks (issue 17's pass), and what the attack reviews of that session found.
  {
    version: 120,
    name: "recordings appended as chunks, not by rewriting the whole text",
    statements: [
      // recordings.data keeps the header (and what a release before this one appended to it);
      // what follows is one row per flush, in seq order
      `CREATE TABLE recording_chunks (
        recording_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (recording_id, seq)
      )`,
    ],
  },
  {
    version: 121,
    name: "expiry indexes for what strangers start",
    statements: [
      // each sign-in start, PIN and device code clears the expired ones first: by index, not a scan
      `CREATE INDEX oidc_logins_expires ON oidc_logins (expires_at)`,
      `CREATE INDEX pins_expires ON pins (expires_at)`,
      `CREATE INDEX device_codes_expires ON device_codes (expires_at)`,
    ],
  },
  {
    version: 122,
    name: "browser SSH hand-offs bound to the browser that started them",
    statements: [
      // a hand-off made before this has none, and fails: the browser starts it again
      `ALTER TABLE browser_handoffs ADD COLUMN browser_hash TEXT NOT NULL DEFAULT ''`,
    ],
  },
  {
    version: 123,
    name: "what made each tunnel's secret and when it ends; how each zone credential was granted",
    statements: [
      // The zone credential that made the tunnel's secret (`tunnel create`, the seed form, or
      // `tunnel token --rotate`): its revocation or expiry disables the tunnel. NULL for a
      // tunnel made before this was recorded, which keeps working as it did.
      `ALTER TABLE tunnels ADD COLUMN credential_id TEXT`,
      // never later than that credential's expiry; NULL: no expiry (a tunnel made before this)
      `ALTER TABLE tunnels ADD COLUMN secret_expires_at BIGINT`,
      // the seed form's tunnels were owned by the credential itself when it had no owner: exact
      `UPDATE tunnels SET credential_id = created_by WHERE substr(created_by, 1, 4) = 'wzc_'`,
      `CREATE INDEX tunnels_credential ON tunnels (credential_id)`,
      // JSON list of the zone admin rules (email:…, group:…) that let its holder obtain it at
      // `tunnel login`; NULL for an admin's credential, or one obtained before this
      `ALTER TABLE zone_credentials ADD COLUMN granted_by TEXT`,
    ],
  },
  {
    version: 124,
    name: "workload ID tokens accepted once",
    statements: [
      // a hash of the token's issuer and jti (or of the token), kept until the token expires
      `CREATE TABLE workload_tokens_seen (
        token_hash TEXT PRIMARY KEY,
        issuer TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE INDEX workload_tokens_seen_expires ON workload_tokens_seen (expires_at)`,
    ],
  },
  {
    version: 125,
    name: "recordings stored as their events' bytes, and limited per recording and per zone",
    statements: [
      // a chunk written from now on keeps its events as bytes (recording-events.ts) and data '';
      // one written before keeps its asciicast lines in data, and reads as it did.
      // (BYTEA: PostgreSQL's bytes; SQLite keeps a blob under any declared type)
      `ALTER TABLE recording_chunks ADD COLUMN events BYTEA`,
      // the zone whose limit a recording counts towards: its application's zone when it started
      `ALTER TABLE recordings ADD COLUMN zone TEXT`,
      `UPDATE recordings SET zone = (SELECT zone FROM apps WHERE apps.hostname = recordings.app)`,
      `CREATE INDEX recordings_zone ON recordings (zone)`,
      // bytes a recording of the application may take; NULL: the edge's default
      `ALTER TABLE browser_ssh_apps ADD COLUMN recording_limit BIGINT`,
    ],
  },
  {
    version: 126,
    name: "admin tokens scoped to a zone, read-only, expiring and revocable; service tokens of a zone",
    statements: [
      // a token made before this one is edge-wide, may write and does not expire: as it was
      `ALTER TABLE admin_tokens ADD COLUMN zone TEXT`,
      `ALTER TABLE admin_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE admin_tokens ADD COLUMN expires_at BIGINT`,
      // a revoked token keeps its row, so that the bootstrap token is not made again on the next start
      `ALTER TABLE admin_tokens ADD COLUMN revoked_at BIGINT`,
      `DROP INDEX admin_tokens_name`,
      `CREATE UNIQUE INDEX admin_tokens_live_name ON admin_tokens (name) WHERE revoked_at IS NULL`,
      // a service token made by a zone's admin belongs to that zone; NULL is edge-wide, as before
      `ALTER TABLE service_tokens ADD COLUMN zone TEXT`,
    ],
  },
  {
    version: 127,
    name: "PINs capped, oldest first",
    statements: [
      // each new PIN pushes out those past the cap (MAX_PINS, lib/store/sign-in-starts.ts): by index, not a sort
      `CREATE INDEX pins_created ON pins (created_at, id)`,
    ],
  },
  {
    version: 128,
    name: "a grace for resumable sessions per application; resumes in the audit tied to their session",
    statements: [
      // how long a connector keeps an origin after a cut (ms; 0: not resumable); NULL: the default
      `ALTER TABLE apps ADD COLUMN resume_grace_ms BIGINT`,
      // a resume's decision and end: the session it resumes (the first decision's session id),
      // and, on the decision, how long its path had been gone as this edge saw it
      `ALTER TABLE audit ADD COLUMN resumes TEXT`,
      `ALTER TABLE audit ADD COLUMN gap_ms BIGINT`,
      `CREATE INDEX audit_resumes ON audit (resumes)`,
    ],
  },
  {
    version: 129,
    name: "the resume-capable connector processes each node holds for a hostname",
    statements: [
      // a JSON array of connector process ids: a node's peers open resumable streams to one of
      // them. A node of an earlier release writes none, and its streams stay non-resumable.
      `ALTER TABLE node_hostnames ADD COLUMN processes TEXT NOT NULL DEFAULT '[]'`,
    ],
  },
  {
    version: 130,
    name: "when a session's chain of sign-ins began at the identity provider",
    statements: [
      // a refreshed `edge login` carries its first sign-in's time, and is renewed only so long
      // after it (ADMIN_LOGIN_MAX_MS); NULL: the session was made at its sign-in (created_at)
      `ALTER TABLE org_sessions ADD COLUMN signed_in_at BIGINT`,
    ],
  },
];

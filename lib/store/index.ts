// The store: zones, applications, policies and credentials, in SQLite or PostgreSQL.
// Plain functions that take the Store as their first argument.
export * from "./open.ts";
export * from "./errors.ts";
export * from "./zones.ts";
export * from "./service-tokens.ts";
export * from "./zone-credentials.ts";
export * from "./admin-tokens.ts";
export * from "./policies.ts";
export * from "./sign-ins.ts";
export * from "./device-codes.ts";
export * from "./sign-in-starts.ts";
export * from "./zone-admins.ts";
export * from "./admins.ts";
export * from "./signing-keys.ts";
export * from "./ssh.ts";
export * from "./audit.ts";
export * from "./revision.ts";
export * from "./user-revocations.ts";
export * from "./session-revocations.ts";
export * from "./tunnels.ts";
export * from "./nodes.ts";
export * from "./acme.ts";
export * from "./browser-ssh.ts";
export * from "./recordings.ts";
export * from "./workload-tokens.ts";
export * from "./recording-events.ts";

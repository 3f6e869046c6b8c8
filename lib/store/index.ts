// The store: zones, applications, policies and credentials, in SQLite or PostgreSQL.
// Plain functions that take the Store as their first argument.
export * from "./open.ts";
export * from "./errors.ts";
export * from "./zones.ts";
export * from "./service-tokens.ts";
export * from "./zone-credentials.ts";
export * from "./admin-tokens.ts";
export * from "./policies.ts";
export * from "./ssh.ts";
export * from "./audit.ts";
export * from "./revision.ts";
export * from "./user-revocations.ts";

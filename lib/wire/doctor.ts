// What the edge answers at DOCTOR_PATH (lib/wire/http.ts), for `wicket doctor` and `wicket
// tunnel doctor`: lib/edge/http/doctor.ts writes it, lib/doctor/ reads it. Everything past `edge`
// and `app` is about the caller's own credentials, and absent when it sent none.

export type DoctorAnswer = {
  edge: { version: string; protocol: number };
  /** On an application's hostname: the application that serves it (a hostname or `*.zone`), or null. */
  app?: { hostname: string } | null;
  /** Who the credentials sent identify, or why they do not count. */
  identity?: { name: string; kind: "service-token" | "user"; expiresAt?: number } | { refused: string };
  /** The policies' decision for that identity, naming the policy and the rule. */
  decision?: { allowed: boolean; policy?: { id: string; name: string }; rule?: string; explanation: string };
  /** Allowed callers only: connector connections for the hostname on this node, and other nodes that hold some. */
  connectors?: { here: number; tunnels: string[]; nodes?: { id: string; connections: number }[] };
  /** Allowed callers only: the principal an SSH certificate would name, or why there is none. */
  ssh?: { principal?: string; problem?: string; validForMs: number };
  /** On the edge's host, for a connector's credential (Authorization: Bearer <id>.<secret>). */
  credential?: { kind: "zone-credential" | "tunnel"; zone: string; id: string; tunnel?: string; expiresAt?: number; obtainedBy?: string } | { refused: string };
};

// A live session as the admin API lists it (GET /api/v1/sessions): the edge writes it
// (lib/edge/decisions/live-sessions.ts), the CLI and the other nodes of a cluster read it
// (lib/admin-client/). Here, so that neither end imports the other for its shape.

export type LiveSessionInfo = {
  id: string;
  host: string;
  app?: string;
  identity: string;
  ip: string;
  startedAt: number;
  bytesToOrigin: number;
  bytesToClient: number;
};

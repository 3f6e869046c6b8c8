// WebSocket close codes between the client and the edge, and between connector and edge.
// Each maps to one sentence and one exit code on the client (lib/access/errors.ts).
export const Close = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  internal: 1011,
  keepaliveTimeout: 4000,
  badRequest: 4400,
  unauthenticated: 4401,
  denied: 4403,
  unknownHost: 4404,
  versionMismatch: 4426,
  noConnector: 4502,
  originUnreachable: 4504,
} as const;

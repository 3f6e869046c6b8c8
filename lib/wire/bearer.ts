// `Authorization: Bearer <credential>` (RFC 6750 2.1), the one way every credential but a
// service token reaches the edge: app tokens, admin tokens, zone credentials, a tunnel's
// credentials, the cluster secret. One reader, so every endpoint takes the same spelling.

/**
 * The credential of an Authorization header, or undefined when it carries none: the scheme in
 * any case (RFC 9110 11.1), spaces or tabs around it, one credential without spaces.
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  return /^bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")?.[1];
}

/** A credential written `<id>.<secret>` (a tunnel's credentials, a zone credential), split at
 * its first dot; undefined when it is not one. */
export function idAndSecret(credential: string | undefined): { id: string; secret: string } | undefined {
  const m = /^([^.\s]+)\.(\S+)$/.exec(credential ?? "");
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

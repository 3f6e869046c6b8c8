// Files on the user's machine, all under ~/.wicket (WICKET_HOME overrides, for tests).
// Names derived from hostnames go through safeName, so a hostname cannot point outside it.
import { homedir } from "node:os";
import { join } from "node:path";

export const wicketHome = () => process.env.WICKET_HOME || join(homedir(), ".wicket");
export const originCertPath = () => join(wicketHome(), "cert.pem");

/** A hostname as a file name: lower-case letters, digits, dots and dashes only, no leading dot. */
export function safeName(hostname: string): string {
  const s = hostname.toLowerCase().replace(/[^a-z0-9.-]/g, "_").replace(/^\.+/, "_");
  return s.slice(0, 200) || "_";
}

/** App tokens from the browser sign-in, one file per application hostname. */
export const tokensDir = () => join(wicketHome(), "tokens");
export const appTokenPath = (hostname: string) => join(tokensDir(), `${safeName(hostname)}.jwt`);

/** The org session for an edge (its issuer URL): mints app tokens without a browser. */
export const orgSessionPath = (issuer: string) => join(wicketHome(), `${safeName(new URL(issuer).host)}-session`);

/** Held while one process signs in to an edge, so that parallel ones wait instead of each opening a browser. */
export const signInLockPath = (issuer: string) => `${orgSessionPath(issuer)}.lock`;

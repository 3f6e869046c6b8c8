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

// `wicket edge login`'s admin session, kept in ~/.wicket/edge-admin.json (0600): the edge, the
// bearer the device flow gave, whose it is and until when, and the edge's CA when it has its
// own. The admin commands use it when no --admin-token, WICKET_ADMIN_TOKEN or data directory
// gives a token.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { privateDir, wicketHome, writePrivate } from "../paths.ts";

export type AdminLogin = { edge: string; token: string; email?: string; expiresAt?: number; ca?: string };

export const adminLoginPath = () => join(wicketHome(), "edge-admin.json");

/** The saved admin session, if there is one and it has not expired. */
export function readAdminLogin(now = Date.now()): AdminLogin | undefined {
  const path = adminLoginPath();
  if (!existsSync(path)) return undefined;
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as Partial<AdminLogin>;
    if (typeof v.edge !== "string" || typeof v.token !== "string") return undefined;
    if (typeof v.expiresAt === "number" && v.expiresAt <= now) return undefined;
    return v as AdminLogin;
  } catch {
    return undefined;
  }
}

export function saveAdminLogin(login: AdminLogin): string {
  privateDir(wicketHome());
  writePrivate(adminLoginPath(), JSON.stringify(login, null, 2) + "\n");
  return adminLoginPath();
}

export const deleteAdminLogin = () => rmSync(adminLoginPath(), { force: true });

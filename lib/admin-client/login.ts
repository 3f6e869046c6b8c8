// `wicket edge login`'s admin session, kept in ~/.wicket/edge-admin.json (0600): the edge, the
// bearer the device flow gave, whose it is and until when, and the edge's CA when it has its
// own. The admin commands use it when no --admin-token, WICKET_ADMIN_TOKEN or data directory
// gives a token, and refresh it at the edge when it is close to its end, as app tokens are
// minted again from the org session (lib/access/signin.ts).
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { discover, refreshGrant } from "../access/oauth.ts";
import { deniedError } from "../cli/exit.ts";
import { withLock } from "../cli/lock.ts";
import { log } from "../cli/log.ts";
import { privateDir, wicketHome, writePrivate } from "../paths.ts";

export type AdminLogin = { edge: string; token: string; email?: string; expiresAt?: number; ca?: string };

export const adminLoginPath = () => join(wicketHome(), "edge-admin.json");

/** A session used within this long of its end is swapped for a new one first: a day's work
 * then never meets an expired login, and one left unused for longer is not kept alive. */
const REFRESH_WITHIN_MS = 3_600_000;

/** The saved admin session, expired or not. */
export function savedAdminLogin(): AdminLogin | undefined {
  const path = adminLoginPath();
  if (!existsSync(path)) return undefined;
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as Partial<AdminLogin>;
    return typeof v.edge === "string" && typeof v.token === "string" ? (v as AdminLogin) : undefined;
  } catch {
    return undefined;
  }
}

export const hasEnded = (l: AdminLogin, now = Date.now()) => typeof l.expiresAt === "number" && l.expiresAt <= now;

/** The saved admin session, if there is one and it has not expired. */
export function readAdminLogin(now = Date.now()): AdminLogin | undefined {
  const l = savedAdminLogin();
  return l && !hasEnded(l, now) ? l : undefined;
}

export function saveAdminLogin(login: AdminLogin): string {
  privateDir(wicketHome());
  writePrivate(adminLoginPath(), JSON.stringify(login, null, 2) + "\n");
  return adminLoginPath();
}

export const deleteAdminLogin = () => rmSync(adminLoginPath(), { force: true });

export const endedSentence = (edge: string) => `your admin sign-in to ${edge} has ended; run \`wicket edge login\` to sign in again`;

const nearEnd = (l: AdminLogin) => typeof l.expiresAt === "number" && l.expiresAt - Date.now() < REFRESH_WITHIN_MS;

/**
 * `login`, or the new session the edge swaps it for when it is close to its end (`ca`: the
 * edge's CA, as the command trusts it). One process at a time asks (the edge ends the old
 * session), the others find its answer in the file. An edge that cannot be asked now leaves
 * the session as it is while it lasts: the command's own request says what is wrong.
 */
export async function freshAdminLogin(login: AdminLogin, ca = login.ca): Promise<AdminLogin> {
  if (!nearEnd(login)) return login;
  privateDir(wicketHome());
  return withLock(`${adminLoginPath()}.lock`, async () => {
    const saved = savedAdminLogin();
    if (saved && saved.edge === login.edge && saved.token !== login.token && !hasEnded(saved)) return saved; // another process refreshed it
    let r: Awaited<ReturnType<typeof refreshGrant>>;
    try {
      r = await refreshGrant(await discover(login.edge, ca), login.token, { scope: "admin" }, ca);
    } catch (e) {
      if (hasEnded(login)) throw e;
      log.debug(`cannot refresh the admin sign-in now: ${(e as Error).message}`);
      return login;
    }
    if ("error" in r) throw deniedError(r.error === "invalid_grant" ? endedSentence(login.edge) : r.description);
    const t = r.token;
    const fresh: AdminLogin = { ...login, token: t.access_token, email: t.email ?? login.email, expiresAt: t.expires_in ? Date.now() + t.expires_in * 1000 : undefined };
    saveAdminLogin(fresh);
    log.debug(`refreshed the admin sign-in of ${fresh.email ?? "this machine"} at ${login.edge}`);
    return fresh;
  });
}

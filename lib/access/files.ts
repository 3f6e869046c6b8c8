// The client's files under ~/.wicket: app tokens and org sessions, written atomically with
// mode 0600 in directories of mode 0700, read back tolerantly (a damaged file is no file).
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jwtClaims } from "../auth/jwt-claims.ts";
import { APP_TOKEN_SUFFIX, appTokenPath, ORG_SESSION_SUFFIX, signInPath, tokensDir, wicketHome, writePrivate } from "../paths.ts";

/** Seconds of validity a cached token must still have to be used: a connection needs a moment. */
const MIN_LEFT_S = 30;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function isFresh(token: string, now = Date.now()): boolean {
  const exp = jwtClaims(token)?.exp;
  return typeof exp === "number" && exp * 1000 > now + MIN_LEFT_S * 1000;
}

/** The cached app token for `hostname` when it is still good for a while. */
export function readAppToken(hostname: string): string | undefined {
  const t = readText(appTokenPath(hostname))?.trim();
  return t && isFresh(t) ? t : undefined;
}

export const saveAppToken = (hostname: string, token: string) => writePrivate(appTokenPath(hostname), token + "\n");
export const deleteAppToken = (hostname: string) => rmSync(appTokenPath(hostname), { force: true });

export type SignInFile = { issuer: string; refresh_token: string; email?: string; expires_at?: number };

export function readSignIn(issuer: string): SignInFile | undefined {
  const text = readText(signInPath(issuer));
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as SignInFile;
    if (s.issuer !== issuer || typeof s.refresh_token !== "string") return undefined;
    if (typeof s.expires_at === "number" && s.expires_at <= Date.now()) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export const saveSignIn = (s: SignInFile) => writePrivate(signInPath(s.issuer), JSON.stringify(s, null, 2) + "\n");
export const deleteSignIn = (issuer: string) => rmSync(signInPath(issuer), { force: true });

/** Every org session file, for `logout` without a hostname. */
export function allOrgSessions(): { path: string; session?: SignInFile }[] {
  let names: string[] = [];
  try {
    names = readdirSync(wicketHome()).filter((n) => n.endsWith(ORG_SESSION_SUFFIX));
  } catch {
    return [];
  }
  return names.map((n) => {
    const path = join(wicketHome(), n);
    try {
      return { path, session: JSON.parse(readFileSync(path, "utf8")) as SignInFile };
    } catch {
      return { path };
    }
  });
}

/** Every cached app token file. */
export function allAppTokenFiles(): string[] {
  try {
    return readdirSync(tokensDir())
      .filter((n) => n.endsWith(APP_TOKEN_SUFFIX))
      .map((n) => join(tokensDir(), n));
  } catch {
    return [];
  }
}

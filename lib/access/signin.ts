// Getting an app token for an application, the cheapest way that works: the cached token if
// it is still good; else one minted from the org session this machine keeps for the edge;
// else a browser sign-in (device flow), which only one process at a time runs per edge.
import { deniedError } from "../cli/exit.ts";
import { log } from "../cli/log.ts";
import { privateDir, signInLockPath, wicketHome } from "../paths.ts";
import { appOrigin } from "./dial.ts";
import { deleteSignIn, readAppToken, readSignIn, saveAppToken, saveSignIn } from "./files.ts";
import { withLock } from "../cli/lock.ts";
import { deviceFlow, discover, refreshGrant, type BrowserMode, type ServerMetadata, type TokenResponse } from "./oauth.ts";

export type SignInOptions = {
  hostname: string;
  /** Where the edge is, when not at the hostname itself. */
  edge?: string;
  ca?: string;
  /** "never": fail instead of starting a browser sign-in (for `access token`). */
  browser: BrowserMode | "never";
  /** A token the edge just refused: not to be returned again. */
  refused?: string;
  signal?: AbortSignal;
};

/** Where the edge's metadata is: the edge URL given, else the application hostname itself. */
export const edgeBase = (o: { hostname: string; edge?: string }): string => appOrigin(o);

const cached = (o: SignInOptions) => {
  const t = readAppToken(o.hostname);
  return t && t !== o.refused ? t : undefined;
};

function keep(o: SignInOptions, meta: ServerMetadata, t: TokenResponse): string {
  saveAppToken(o.hostname, t.access_token);
  if (t.refresh_token) {
    saveSignIn({ issuer: meta.issuer, refresh_token: t.refresh_token, email: t.email, expires_at: t.refresh_token_expires_in ? Date.now() + t.refresh_token_expires_in * 1000 : undefined });
  }
  return t.access_token;
}

/** A token from the org session, or undefined when there is no usable session. */
async function fromSession(o: SignInOptions, meta: ServerMetadata): Promise<string | undefined> {
  const s = readSignIn(meta.issuer);
  if (!s) return undefined;
  const r = await refreshGrant(meta, s.refresh_token, o.hostname, o.ca);
  if ("token" in r) {
    log.debug(`minted a token for ${o.hostname} from the session of ${s.email ?? "this edge"}`);
    return keep(o, meta, r.token);
  }
  if (r.error === "access_denied" || r.error === "invalid_target") throw deniedError(r.description);
  // The session ended or was revoked: forget it, a browser sign-in follows.
  log.debug(`the org session for ${meta.issuer} was refused (${r.error}): ${r.description}`);
  deleteSignIn(meta.issuer);
  return undefined;
}

/** A valid app token for `o.hostname`, signing in through the browser if it must. */
export async function appToken(o: SignInOptions): Promise<string> {
  const c = cached(o);
  if (c) return c;
  const meta = await discover(edgeBase(o), o.ca);
  const minted = await fromSession(o, meta);
  if (minted) return minted;
  if (o.browser === "never") throw deniedError(`not signed in to ${o.hostname}; run \`wicket access login ${o.hostname}\``);
  const mode = o.browser;
  privateDir(wicketHome());
  // Parallel processes wait here while one signs in, then find its session. A person may take
  // as long as a device code lives (10 minutes by default) to confirm.
  return withLock(
    signInLockPath(meta.issuer),
    async () => {
      // Whoever held the lock before us may have signed in already.
      const again = cached(o) ?? (await fromSession(o, meta));
      if (again) return again;
      const t = await deviceFlow(meta, { scope: "app", hostname: o.hostname, ca: o.ca, browser: mode, what: o.hostname, signal: o.signal });
      return keep(o, meta, t);
    },
    { timeoutMs: 15 * 60_000, onWait: (pid) => log.info(`waiting for the sign-in that process ${pid} started`) },
  );
}

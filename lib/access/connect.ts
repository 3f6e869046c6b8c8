// Dialing an application as a signed-in person: with the cached (or freshly minted) app
// token; when the edge refuses that token, it is deleted and there is one new sign-in, and
// one more dial, never a loop.
import { log } from "../cli/log.ts";
import { Close } from "../wire/close.ts";
import { ClosedError, dialApp, type DialOptions } from "./dial.ts";
import { deleteAppToken } from "./files.ts";
import type { BrowserMode } from "./oauth.ts";
import { appToken } from "./signin.ts";
import { workloadAppToken } from "./workload.ts";

export type SignInMode = { browser: BrowserMode; signal?: AbortSignal };

/** The app token this client shows: the job's, for its ID token (never a browser), else the signed-in person's. */
export function clientToken(opts: DialOptions, mode: { browser: BrowserMode | "never"; signal?: AbortSignal }, refused?: string): Promise<string> {
  if (opts.workload) return workloadAppToken({ hostname: opts.hostname, edge: opts.edge, ca: opts.ca, source: opts.workload }, refused);
  return appToken({ hostname: opts.hostname, edge: opts.edge, ca: opts.ca, browser: mode.browser, signal: mode.signal, refused });
}

export async function dialSignedIn(opts: DialOptions, mode: SignInMode): Promise<WebSocket> {
  const first = await clientToken(opts, mode);
  try {
    return await dialApp({ ...opts, appToken: first });
  } catch (e) {
    if (!(e instanceof ClosedError) || e.code !== Close.unauthenticated) throw e;
    log.info(`${e.message}`);
    if (!opts.workload) deleteAppToken(opts.hostname);
  }
  const second = await clientToken(opts, mode, first);
  return dialApp({ ...opts, appToken: second });
}

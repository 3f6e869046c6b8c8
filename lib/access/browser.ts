// Opening the sign-in page in the user's browser. WICKET_BROWSER names another opener (a
// command, with arguments, that gets the URL as its last argument): for tests, and for
// people whose browser the system opener does not know. The opener's output goes nowhere:
// stdout of `access ssh` is the SSH stream.
//
// Only a URL the client built itself reaches here (lib/wire/user-code.ts), and no opener is a
// shell: `cmd /c start` would read `&`, `|` and `^` in a URL as commands, so Windows gets
// url.dll's FileProtocolHandler, which takes the URL as one argument and hands it to the browser.
import { log } from "../cli/log.ts";

/** What a page URL may hold to be opened: http(s), then RFC 3986's characters, no spaces or controls. */
const OPENABLE = /^https?:\/\/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

/** The command that opens `url` on `platform`; `env` for WICKET_BROWSER. */
export function openerCommand(url: string, platform: NodeJS.Platform = process.platform, env: Record<string, string | undefined> = process.env): string[] {
  const custom = env.WICKET_BROWSER?.trim();
  if (custom) return [...custom.split(/\s+/), url];
  if (platform === "darwin") return ["open", url];
  if (platform === "win32") return ["rundll32", "url.dll,FileProtocolHandler", url];
  return ["xdg-open", url];
}

/** Starts the browser on `url`; false when no opener could be started (the URL is printed anyway). */
export function openBrowser(url: string): boolean {
  if (!OPENABLE.test(url)) {
    log.debug(`not opening ${JSON.stringify(url)}: not a plain http(s) URL`);
    return false;
  }
  const cmd = openerCommand(url);
  try {
    const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    p.unref();
    p.exited.then((code) => code !== 0 && log.debug(`${cmd[0]} exited with code ${code}`));
    return true;
  } catch (e) {
    log.debug(`cannot start ${cmd[0]}: ${(e as Error).message}`);
    return false;
  }
}

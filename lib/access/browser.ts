// Opening the sign-in page in the user's browser. WICKET_BROWSER names another opener (a
// command, with arguments, that gets the URL as its last argument): for tests, and for
// people whose browser the system opener does not know. The opener's output goes nowhere:
// stdout of `access ssh` is the SSH stream.
import { log } from "../cli/log.ts";

function opener(url: string): string[] {
  const custom = process.env.WICKET_BROWSER?.trim();
  if (custom) return [...custom.split(/\s+/), url];
  if (process.platform === "darwin") return ["open", url];
  if (process.platform === "win32") return ["cmd", "/c", "start", '""', url.replaceAll("&", "^&")];
  return ["xdg-open", url];
}

/** Starts the browser on `url`; false when no opener could be started (the URL is printed anyway). */
export function openBrowser(url: string): boolean {
  const cmd = opener(url);
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

// How to run this program again, for the ProxyCommand lines we print.
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:\\~BUN\\");

/** argv prefix that runs `wicket`: the compiled binary, a `wicket` beside it, or bun + wicket.ts. */
export function wicketCommand(): string[] {
  if (compiled) {
    const exe = process.execPath;
    if (basename(exe).replace(/\.exe$/, "") === "wicket") return [exe];
    const sibling = join(dirname(exe), process.platform === "win32" ? "wicket.exe" : "wicket");
    return [existsSync(sibling) ? sibling : exe];
  }
  return [process.execPath, resolve(import.meta.dir, "../../commands/wicket.ts")];
}

/** Quotes a word for the POSIX shell that OpenSSH runs ProxyCommand with. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

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

/**
 * Quotes a word for a Windows command line as the Microsoft C runtime splits it (what
 * CommandLineToArgvW and Bun do): double quotes around words with blanks or quotes;
 * backslashes are literal except in front of a quote, where they are doubled.
 */
export function windowsQuote(word: string): string {
  if (word !== "" && !/[\s"]/.test(word)) return word;
  let out = '"';
  let backslashes = 0;
  for (const ch of word) {
    if (ch === "\\") {
      backslashes++;
      continue;
    }
    out += ch === '"' ? "\\".repeat(backslashes * 2 + 1) + '"' : "\\".repeat(backslashes) + ch;
    backslashes = 0;
  }
  return out + "\\".repeat(backslashes * 2) + '"';
}

/**
 * Quotes a word for the command line OpenSSH runs a ProxyCommand with: `sh -c` everywhere
 * but Windows, where OpenSSH for Windows gives the line to CreateProcess as it stands (it
 * only adds quotes around a first word ending in .exe that has none) and the program splits
 * it by the C runtime's rules; single quotes mean nothing there.
 */
export function commandLineQuote(word: string, platform: NodeJS.Platform = process.platform): string {
  return platform === "win32" ? windowsQuote(word) : shellQuote(word);
}

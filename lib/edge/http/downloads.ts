// `/install.sh` and `/download/…` on the edge's own host: a company's laptops install wicket
// from the edge they sign in to. The files come from --downloads-dir, the output of
// `bun run build --all` (<platform>/wicket and SHA256SUMS); the script is the one built into
// this binary, with the edge's public URL written in.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import installScript from "../../../scripts/install.sh" with { type: "text" };
import { log } from "../../cli/log.ts";

export const INSTALL_PATH = "/install.sh";
export const DOWNLOAD_PREFIX = "/download/";

const URL_LINE = /^WICKET_EDGE_DOWNLOAD_URL=''$/m;
// Names only: no "..", no hidden files, no encoded or backslashed separators. Refusing what
// could traverse beats normalising it.
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export const isDownloadPath = (pathname: string) => pathname === INSTALL_PATH || pathname.startsWith(DOWNLOAD_PREFIX);

const posixQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** install.sh with the URL of this edge's downloads as its default. */
export function installScriptFor(publicUrl: string): string {
  if (!URL_LINE.test(installScript)) throw new Error("scripts/install.sh lost its WICKET_EDGE_DOWNLOAD_URL='' line");
  const downloads = new URL(DOWNLOAD_PREFIX, publicUrl).href.replace(/\/$/, "");
  return installScript.replace(URL_LINE, () => `WICKET_EDGE_DOWNLOAD_URL=${posixQuote(downloads)}`);
}

/** The line that installs wicket on Windows from this edge (PowerShell; README's "On Windows"). */
export function powershellInstallFor(publicUrl: string): string {
  const downloads = new URL(DOWNLOAD_PREFIX, publicUrl).href.replace(/\/$/, "").replaceAll("'", "''");
  return `$ProgressPreference='SilentlyContinue'; $u='${downloads}'; $d="$env:LOCALAPPDATA\\Programs\\wicket"; $f="$env:TEMP\\wicket.exe"; New-Item -ItemType Directory -Force $d | Out-Null; Invoke-WebRequest "$u/windows-x64/wicket.exe" -OutFile $f -UseBasicParsing; $want=((Invoke-RestMethod "$u/SHA256SUMS") -split "\`n" | Where-Object { $_ -match ' \\*?windows-x64/wicket\\.exe$' }) -replace ' .*'; if ((Get-FileHash $f -Algorithm SHA256).Hash -ne $want) { Remove-Item $f; throw 'wicket: checksum mismatch, nothing installed' }; Move-Item -Force $f "$d\\wicket.exe"; $p=[Environment]::GetEnvironmentVariable('Path','User'); if (($p -split ';') -notcontains $d) { [Environment]::SetEnvironmentVariable('Path', "$p;$d", 'User') }; & "$d\\wicket.exe" --version`;
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body + "\n", { status, headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", "cache-control": "no-store", ...headers } });
}

function contentType(name: string): string {
  if (name === "SHA256SUMS" || name.endsWith(".txt")) return "text/plain; charset=utf-8";
  if (name.endsWith(".sh")) return "text/x-shellscript; charset=utf-8";
  if (name.endsWith(".json") || name.endsWith(".map")) return "application/json";
  return "application/octet-stream";
}

/** Says at start-up what would otherwise only show as 404s. */
export function checkDownloadsDir(dir: string | undefined): void {
  if (dir && !existsSync(dir)) log.warn(`--downloads-dir ${dir} does not exist: /install.sh and /download/ answer 404 until it does (fill it with \`bun run build --all --out ${dir}\`)`);
}

export function serveDownloads(req: Request, pathname: string, opts: { dir?: string; publicUrl: string }): Response {
  if (req.method !== "GET" && req.method !== "HEAD") return text(405, `${req.method} is not allowed here; use GET`, { allow: "GET, HEAD" });
  if (!opts.dir) return text(404, "this edge serves no downloads: its admin can start it with --downloads-dir (the output of `bun run build --all`)");
  if (!existsSync(opts.dir)) {
    log.warn(`download of ${pathname} refused: --downloads-dir ${opts.dir} does not exist`);
    return text(404, "this edge's downloads directory does not exist yet; ask its admin to fill it with `bun run build --all`");
  }
  if (pathname === INSTALL_PATH) return text(200, installScriptFor(opts.publicUrl).trimEnd(), { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" });

  const rel = pathname.slice(DOWNLOAD_PREFIX.length);
  if (rel === "") return text(404, "SHA256SUMS lists the downloads of this edge: /download/SHA256SUMS");
  const segments = rel.split("/");
  if (!segments.every((s) => SEGMENT.test(s))) return text(400, `"${rel}" is not a download name; names are like linux-x64/wicket or SHA256SUMS`);
  const file = join(opts.dir, ...segments);
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    // missing: answered below
  }
  if (!isFile) return text(404, `no such download: ${rel} (SHA256SUMS lists what this edge has)`);
  log.debug(`download ${rel}`);
  const name = segments[segments.length - 1]!;
  return new Response(Bun.file(file), {
    headers: {
      "content-type": contentType(name),
      "x-content-type-options": "nosniff",
      // Same URL, new bytes after every build: always revalidate.
      "cache-control": "no-cache",
      ...(contentType(name) === "application/octet-stream" ? { "content-disposition": `attachment; filename="${name}"` } : {}),
    },
  });
}

// HTML the edge shows to browsers: one frame with the organisation's name and logo, one small
// stylesheet (pages.css), and one Content-Security-Policy that every response of the edge
// carries. Forms work without JavaScript; the only script is the copy button's. Both are
// inline and allowed by their SHA-256, so the policy needs no 'unsafe-inline' and the page
// loads nothing from anywhere but its own origin.
import { createHash } from "node:crypto";
// The page shows the stanza `wicket access ssh-config` prints: one writer of it.
import { sshConfigStanza } from "../../access/ssh-config.ts";
import type { Brand, Logo } from "../config/file.ts";
import { INSTALL_PATH, powershellInstallFor } from "./downloads.ts";
import css from "./pages.css" with { type: "text" };

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Where every host of the edge serves the configured logo. */
export const LOGO_PATH = "/assets/logo";

/** Who is asking, as a page shows it: the configured name (else the public host), and whether there is a logo. */
export type Site = { name: string; logo: boolean };

export const siteOf = (brand: Brand | undefined, publicUrl: string): Site => ({ name: brand?.name ?? new URL(publicUrl).host, logo: Boolean(brand?.logo) });

const COPY_SCRIPT = `document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var say = document.getElementById("copied");
    navigator.clipboard.writeText(document.getElementById(b.dataset.copy).textContent).then(
      function () { say.textContent = "Copied " + b.dataset.what + " to the clipboard."; },
      function () { say.textContent = "This browser did not let the page copy; select the text and copy it."; });
  });
});`;

const sha256 = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;

/** The one policy for everything the edge answers: this stylesheet, the copy script, images of its own origin; no frames, no other source. */
export const CSP = `default-src 'none'; style-src ${sha256(css)}; script-src ${sha256(COPY_SCRIPT)}; img-src 'self'; base-uri 'none'; frame-ancestors 'none'`;

/** Adds the policy and its companions to a response that lacks them (the router does this for every response). */
export function withSecurityHeaders(res: Response): Response {
  const h = res.headers;
  const defaults = { "content-security-policy": CSP, "x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "same-origin" };
  for (const [k, v] of Object.entries(defaults)) if (!h.has(k)) h.set(k, v);
  return res;
}

/** `wide`: a page of long lines (the SSH page); "console": the console's tables, wider still on a wide screen. */
export type PageOptions = { wide?: boolean | "console"; script?: boolean };

/** A page in the frame: `title` (the name is added if it does not say it), `body` as HTML, one h1 in it. */
export function page(site: Site, title: string, body: string, status = 200, o: PageOptions = {}): Response {
  const full = title.includes(site.name) ? title : `${title} · ${site.name}`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${esc(full)}</title>
<style>${css}</style>
</head><body>
<header class="brand">${site.logo ? `<img src="${LOGO_PATH}" alt="">` : ""}<span>${esc(site.name)}</span></header>
<main${o.wide ? ` class="wide${o.wide === "console" ? " console" : ""}"` : ""}>
${body}
</main>
<footer>Access secured by wicket</footer>${o.script ? `\n<script>${COPY_SCRIPT}</script>` : ""}
</body></html>`;
  return withSecurityHeaders(new Response(html, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } }));
}

/** A page that says what went wrong and what to do next. */
export function errorPage(site: Site, title: string, text: string, status = 400): Response {
  return page(site, title, `<h1>${esc(title)}</h1><p class="notice" role="alert">${esc(text)}</p>`, status);
}

export function logoResponse(logo: Logo | undefined): Response {
  if (!logo) return new Response("no logo\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
  return withSecurityHeaders(new Response(logo.bytes, { headers: { "content-type": logo.type, "cache-control": "public, max-age=3600" } }));
}

/** Whether a browser asked for this (a page, not text for a program). */
export const wantsPage = (req: Request) => (req.headers.get("accept") ?? "").includes("text/html");

export type SshPageOptions = {
  hostname: string;
  /** The edge's public URL: the installer comes from there. */
  edgeUrl: string;
  /** Whether this edge serves /install.sh (--downloads-dir). */
  installer: boolean;
  /** The edge's TLS is its own CA's: curl needs --cacert. */
  ownCa: boolean;
  /** The browser says it runs on Windows: the PowerShell line comes first. */
  windows: boolean;
};

/** A block of text to copy, with the copy button (the page needs `script: true` and a `#copied` status). */
export const copyable = (id: string, heading: string, what: string, text: string) =>
  `<div class="copy"><h3 id="${id}-label">${esc(heading)}</h3><button type="button" class="secondary" data-copy="${id}" data-what="${esc(what)}" hidden>Copy<span class="sr"> ${esc(what)}</span></button></div>
<pre tabindex="0"><code id="${id}">${esc(text)}</code></pre>`;

/** The seed's note: a browser on an SSH hostname must not just fail; tell the user how to connect.
 * Only what anyone who knows the hostname may know: no applications, no policy. */
export function sshAppPage(site: Site, o: SshPageOptions): Response {
  const h = esc(o.hostname);
  const curl = `curl -fsSL ${new URL(INSTALL_PATH, o.edgeUrl).href} | sh`;
  const ca = o.ownCa ? `<p class="muted">This edge uses a certificate authority of its own: ask your administrator for its <code>ca.pem</code>, then add <code>--cacert ca.pem</code> to <code>curl</code> and run the script with <code>WICKET_CA_FILE=ca.pem sh</code>.</p>` : "";
  const unix = copyable("install", "Linux or macOS, in a terminal", "the install command", curl);
  const windows = copyable("install-windows", "Windows, in PowerShell", "the PowerShell line", powershellInstallFor(o.edgeUrl));
  const install = !o.installer ? `<p>Ask your administrator how to install wicket; this edge does not offer the installer.</p>` : `${o.windows ? windows + unix : unix + windows}${ca}`;
  const target = { platform: "linux" as const, command: ["wicket"], home: "~/.wicket" };
  return page(
    site,
    `${o.hostname} serves SSH`,
    `<h1><code>${h}</code> serves SSH, not web pages</h1>
<p class="lead">Connect to it with your SSH client through wicket. The first time, wicket opens this browser for you to sign in to ${esc(site.name)}.</p>
<h2>1. Install wicket</h2>
${install}
<h2>2. Tell SSH to go through wicket</h2>
<p>Add this to <code>~/.ssh/config</code>, or print it with <code>wicket access ssh-config --hostname ${h}</code>.</p>
${copyable("stanza", "~/.ssh/config", "the stanza", sshConfigStanza({ hostname: o.hostname }, target))}
<h2>3. Connect</h2>
<pre><code>ssh username@${h}</code></pre>
<h2>With short-lived certificates</h2>
<p>If your administrator has this server trust wicket's SSH certificates, use this stanza instead: before each connection wicket gets you a certificate that lasts a few minutes, and you need no key of your own on the server.</p>
${copyable("cert-stanza", "~/.ssh/config, certificates", "the certificate stanza", sshConfigStanza({ hostname: o.hostname, shortLivedCert: true }, target))}
<p id="copied" class="muted" role="status"></p>`,
    200,
    { wide: true, script: true },
  );
}

export function unknownHostPage(site: Site, hostname: string): Response {
  return page(site, "Unknown hostname", `<h1>No application at <code>${esc(hostname)}</code></h1><p>This edge serves no application with this hostname. Check the address, or ask your administrator to add it.</p>`, 404);
}

export function edgeHomePage(site: Site): Response {
  return page(
    site,
    `${site.name}`,
    `<h1>${esc(site.name)}</h1>
<p class="lead">This is where you sign in to reach ${esc(site.name)}'s SSH servers with wicket.</p>
<p>If your terminal shows a code, <a href="/device">enter it here</a>. To reach a server, open its hostname in this browser: that page says how to connect.</p>
<div class="actions"><a href="/sign-in">Sign in</a></div>`,
  );
}

export function notFoundPage(site: Site): Response {
  return page(site, "Page not found", `<h1>Page not found</h1><p>There is no page at this address on this edge. <a href="/">Go to the start page</a>.</p>`, 404);
}

/** The edge failed while answering; the details are in its log, not on the page. */
export function edgeErrorPage(site: Site): Response {
  return errorPage(site, "Something went wrong", "The edge could not answer this request. Try again in a moment; if it keeps happening, tell your administrator the time it happened.", 500);
}

/** Too many requests in progress (lib/edge/http/handshakes.ts): 429 for one address, 503 for the edge. */
export function busyPage(site: Site, who: "address" | "edge"): Response {
  const res =
    who === "address"
      ? errorPage(site, "Too many requests", "Too many requests are in progress from your address. Wait a moment, then reload this page.", 429)
      : errorPage(site, "The edge is busy", "The edge has too many requests in progress. Wait a moment, then reload this page.", 503);
  res.headers.set("retry-after", "1");
  return res;
}

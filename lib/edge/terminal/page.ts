// The pages of SSH in the browser: the full-window terminal on an application's hostname
// (xterm.js and its fit add-on) and the recordings' playback page on the edge's host
// (asciinema-player). Every script and stylesheet is bundled into the binary and served from
// /assets/terminal/ on the host that shows the page: nothing comes from a CDN. These two pages
// have a policy of their own: scripts from 'self' only (still no inline script), styles from
// 'self' plus inline, because xterm.js and the player set their colours and cell sizes with
// <style> elements they write at run time; the player runs its terminal emulator as
// WebAssembly ('wasm-unsafe-eval').
import xtermCss from "@xterm/xterm/css/xterm.css" with { type: "text" };
import xtermJs from "@xterm/xterm/lib/xterm.js" with { type: "text" };
import fitJs from "@xterm/addon-fit/lib/addon-fit.js" with { type: "text" };
import playerCss from "asciinema-player/dist/bundle/asciinema-player.css" with { type: "text" };
import playerJs from "asciinema-player/dist/bundle/asciinema-player.min.js" with { type: "text" };
import { esc, type Site } from "../http/pages.ts";
import { TERMINAL_ASSETS, TERMINAL_MESSAGE_MAX, TERMINAL_SOCKET_PATH } from "./protocol.ts";

/** The page's own script: the terminal, its socket, resizes, and what a closed connection says. */
const TERMINAL_JS = `(function () {
  "use strict";
  var body = document.body, shown = document.getElementById("closed"), why = document.getElementById("why");
  var term = new Terminal({ cursorBlink: true, scrollback: 5000, fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", fontSize: 14 });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();
  window.wicketTerminal = term;
  var ws, reason, enc = new TextEncoder();
  function connect() {
    shown.hidden = true; reason = undefined;
    var u = new URL(${JSON.stringify(TERMINAL_SOCKET_PATH)}, location.href);
    u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("token", body.dataset.token);
    u.searchParams.set("cols", String(term.cols));
    u.searchParams.set("rows", String(term.rows));
    ws = new WebSocket(u.href);
    ws.binaryType = "arraybuffer";
    ws.onmessage = function (e) {
      if (typeof e.data !== "string") return term.write(new Uint8Array(e.data));
      var m = JSON.parse(e.data);
      if (m.type === "closed") reason = m.reason;
      else if (m.type === "status") body.dataset.state = m.state;
    };
    ws.onclose = function (e) {
      body.dataset.state = "closed";
      why.textContent = reason || e.reason || "The connection to the edge was lost (code " + e.code + ").";
      shown.hidden = false;
    };
    term.focus();
  }
  function send(bytes) { for (var i = 0; ws && ws.readyState === 1 && i < bytes.length; i += ${TERMINAL_MESSAGE_MAX}) ws.send(bytes.subarray(i, i + ${TERMINAL_MESSAGE_MAX})); }
  term.onData(function (d) { send(enc.encode(d)); });
  term.onBinary(function (d) { var b = new Uint8Array(d.length); for (var i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 255; send(b); });
  term.onResize(function (s) { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", cols: s.cols, rows: s.rows })); });
  window.addEventListener("resize", function () { fit.fit(); });
  document.getElementById("reconnect").addEventListener("click", function () { term.reset(); connect(); });
  connect();
})();`;

const PLAYER_JS = `(function () {
  var el = document.getElementById("player");
  window.wicketPlayer = AsciinemaPlayer.create(el.dataset.src, el, { fit: "width", autoPlay: true, preload: true, controls: true });
})();`;

const TERMINAL_CSS = `html,body{margin:0;height:100%;background:#000;color:#eee;font:14px system-ui,sans-serif}
#terminal{position:fixed;inset:0;padding:4px}
#closed{position:fixed;left:50%;top:30%;transform:translateX(-50%);max-width:36rem;padding:1.25rem 1.5rem;background:#1b1e24;border:1px solid #3a404b;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.5)}
#closed h1{font-size:1.15rem;margin:0 0 .5rem}
#closed button{margin-top:.75rem;padding:.5rem 1rem;font:inherit;font-weight:600;color:#0b1020;background:#8fb0ff;border:0;border-radius:8px;cursor:pointer}
.player{max-width:72rem;margin:1rem auto;padding:0 1rem}
.player h1{font-size:1.2rem}
.player p{color:#aab}`;

type Asset = { body: string; type: string };
const ASSETS: Record<string, Asset> = {
  "xterm.js": { body: xtermJs, type: "text/javascript" },
  "xterm.css": { body: xtermCss, type: "text/css" },
  "addon-fit.js": { body: fitJs, type: "text/javascript" },
  "terminal.js": { body: TERMINAL_JS, type: "text/javascript" },
  "terminal.css": { body: TERMINAL_CSS, type: "text/css" },
  "asciinema-player.js": { body: playerJs, type: "text/javascript" },
  "asciinema-player.css": { body: playerCss, type: "text/css" },
  "player.js": { body: PLAYER_JS, type: "text/javascript" },
};

const TERMINAL_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const PLAYER_CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** A bundled script or stylesheet under /assets/terminal/, or undefined for another path. */
export function terminalAsset(pathname: string): Response | undefined {
  if (!pathname.startsWith(TERMINAL_ASSETS)) return undefined;
  const a = ASSETS[pathname.slice(TERMINAL_ASSETS.length)];
  if (!a) return new Response("not found\n", { status: 404 });
  return new Response(a.body, { headers: { "content-type": `${a.type}; charset=utf-8`, "cache-control": "public, max-age=3600", "content-security-policy": TERMINAL_CSP } });
}

const html = (csp: string, title: string, head: string, body: string, status = 200) =>
  new Response(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
${head}
</head>${body}</html>`, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": csp } });

const css = (name: string) => `<link rel="stylesheet" href="${TERMINAL_ASSETS}${name}">`;
const js = (name: string) => `<script src="${TERMINAL_ASSETS}${name}"></script>`;

/** The terminal: `token` goes with the socket (the session-bound form token, lib/edge/http/cookies.ts). */
export function terminalPage(site: Site, o: { host: string; who: string; principal: string; token: string }): Response {
  return html(
    TERMINAL_CSP,
    `${o.principal}@${o.host} · ${site.name}`,
    css("xterm.css") + css("terminal.css"),
    `<body data-token="${esc(o.token)}" data-state="connecting" data-principal="${esc(o.principal)}">
<div id="terminal" role="application" aria-label="Terminal: ${esc(o.principal)} on ${esc(o.host)}, signed in as ${esc(o.who)}"></div>
<div id="closed" role="alertdialog" aria-labelledby="closed-title" hidden><h1 id="closed-title">The session is closed</h1><p id="why"></p><button type="button" id="reconnect">Reconnect</button></div>
${js("xterm.js")}${js("addon-fit.js")}${js("terminal.js")}
</body>`,
  );
}

/** The playback page for a recording whose asciicast is at `src`. */
export function playerPage(site: Site, o: { id: string; title: string; src: string }): Response {
  return html(
    PLAYER_CSP,
    `Recording ${o.id} · ${site.name}`,
    css("asciinema-player.css") + css("terminal.css"),
    `<body><div class="player"><h1>Recording <code>${esc(o.id)}</code></h1><p>${esc(o.title)}</p>
<div id="player" data-src="${esc(o.src)}"></div></div>
${js("asciinema-player.js")}${js("player.js")}
</body>`,
  );
}

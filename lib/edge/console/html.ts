// The console's HTML pieces: the frame (the pages' own, lib/edge/http/pages.ts: one stylesheet,
// its strict CSP, light and dark), navigation, tables and forms that carry the CSRF token.
import { copyable, esc, page, type Site } from "../http/pages.ts";
import { isEdgeAdmin, type Admin } from "../admin/authz.ts";

/** Who is looking, and the token every form of theirs carries (lib/edge/http/cookies.ts). */
export type Viewer = { who: Admin & { kind: "person" }; form: string; csrf: string };

export const CONSOLE_PATH = "/admin";

const NAV: [string, string, boolean][] = [
  ["", "Zones and applications", false],
  ["/sessions", "Live sessions", false],
  ["/audit", "Audit", false],
  ["/tokens", "Service tokens", false],
  ["/tunnels", "Tunnels", false],
  ["/credentials", "Zone credentials", false],
  ["/recordings", "Recordings", false],
  ["/nodes", "Nodes and certificates", true],
];

function nav(v: Viewer, current: string): string {
  const links = NAV.filter(([, , edgeOnly]) => !edgeOnly || isEdgeAdmin(v.who)).map(
    ([p, label]) => `<a href="${CONSOLE_PATH}${p}"${p === current ? ' aria-current="page"' : ""}>${esc(label)}</a>`,
  );
  return `<nav class="admin" aria-label="Administration">${links.join("")}</nav>`;
}

const scope = (who: Viewer["who"]) => (who.edge ? "the whole edge" : `the zone${who.zones.length === 1 ? "" : "s"} ${who.zones.join(", ")}`);

/** A change's outcome; `secret`: what it made that is shown this once (a zone credential), to copy. */
export type Notice = { text: string; ok: boolean; secret?: { heading: string; what: string; text: string } };

/** A console page: navigation, an optional notice (a change's outcome), the body, who is signed in. */
export function consolePage(site: Site, v: Viewer, current: string, title: string, body: string, notice?: Notice, status = 200): Response {
  const s = notice?.secret;
  const shown = s ? `${copyable("secret", s.heading, s.what, s.text)}<p id="copied" class="muted" role="status"></p>` : "";
  const said = notice ? `<p class="notice${notice.ok ? " ok" : ""}" role="${notice.ok ? "status" : "alert"}">${esc(notice.text)}</p>${shown}` : "";
  const signedIn = `<div class="signed-in"><p class="muted">Signed in as <strong>${esc(v.who.email)}</strong> (${esc(v.who.idp)}), administering ${esc(scope(v.who))}.</p>${form("/sign-out", v.csrf, {}, `<button type="submit" class="link">Sign out</button>`)}</div>`;
  return page(site, `${title} · Administration`, `${nav(v, current)}<h1>${esc(title)}</h1>${said}${body}${signedIn}`, status, { wide: "console", script: Boolean(s) });
}

export const hidden = (fields: Record<string, string>) => Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");

/** A POST form with the token; `inner` holds its inputs and buttons. */
export const form = (action: string, token: string, fields: Record<string, string>, inner: string, cls?: string) =>
  `<form method="post" action="${esc(action)}"${cls ? ` class="${cls}"` : ""}>${hidden({ csrf: token, ...fields })}${inner}</form>`;

/** A console form: posted to /admin/<action> with the viewer's session-bound token. */
export const act = (v: Viewer, action: string, fields: Record<string, string>, inner: string, cls?: string) => form(`${CONSOLE_PATH}/do/${action}`, v.form, fields, inner, cls);

export const button = (label: string, secondary = false) => `<button type="submit"${secondary ? ' class="secondary"' : ""}>${esc(label)}</button>`;

/** A row's button: the verb shows, what it acts on (the row's id or name, already in the row) is for screen readers. */
export const rowButton = (verb: string, what: string) => `<button type="submit" class="secondary">${esc(verb)}<span class="sr"> ${esc(what)}</span></button>`;

export const input = (id: string, label: string, o: { name?: string; value?: string; placeholder?: string; required?: boolean; type?: string } = {}) =>
  `<div class="field"><label for="${esc(id)}">${esc(label)}</label><input id="${esc(id)}" name="${esc(o.name ?? id)}" type="${o.type ?? "text"}"${o.value ? ` value="${esc(o.value)}"` : ""}${o.placeholder ? ` placeholder="${esc(o.placeholder)}"` : ""}${o.required ? " required" : ""}></div>`;

export const select = (id: string, label: string, options: [string, string][], value?: string) =>
  `<div class="field"><label for="${esc(id)}">${esc(label)}</label><select id="${esc(id)}" name="${esc(id)}">${options.map(([v, l]) => `<option value="${esc(v)}"${v === value ? " selected" : ""}>${esc(l)}</option>`).join("")}</select></div>`;

/** A table with a caption for screen readers; cells are HTML (escape what goes in them). */
export function table(caption: string, headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${esc(empty)}</p>`;
  const head = `<tr>${headers.map((h) => `<th scope="col">${esc(h)}</th>`).join("")}</tr>`;
  return `<div class="table" tabindex="0" role="region" aria-label="${esc(caption)}"><table><caption class="sr">${esc(caption)}</caption><thead>${head}</thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`;
}

export const when = (ms: number | undefined) => {
  if (!ms) return "";
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}">${esc(iso.replace(/\.\d+Z$/, "Z"))}</time>`;
};
export { esc };

// HTML the edge shows to browsers. Plain, accessible, no JavaScript.
export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function page(title: string, body: string, status = 200): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
pre{background:#f3f3f3;padding:1rem;overflow-x:auto}code{font-family:ui-monospace,monospace}</style>
</head><body><main>${body}</main></body></html>`;
  return new Response(html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff", "x-frame-options": "DENY", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" },
  });
}

/** The seed's note: a browser on an SSH hostname must not just fail; tell the user how to connect. */
export function sshAppPage(hostname: string): Response {
  const h = esc(hostname);
  return page(
    `${hostname} serves SSH`,
    `<h1><code>${h}</code> serves SSH, not web pages</h1>
<p>This hostname is an SSH server behind a wicket edge. Connect with your SSH client, not a browser.</p>
<ol>
<li>Install wicket on your machine.</li>
<li>Add this to <code>~/.ssh/config</code> (or print it with <code>wicket access ssh-config --hostname ${h}</code>):
<pre><code>Host ${h}
  ProxyCommand wicket access ssh --hostname %h</code></pre></li>
<li>Connect: <pre><code>ssh username@${h}</code></pre></li>
</ol>`,
  );
}

export function unknownHostPage(hostname: string): Response {
  return page("Unknown hostname", `<h1>No application at <code>${esc(hostname)}</code></h1><p>This edge serves no application with this hostname. Check the address, or ask your administrator to add it.</p>`, 404);
}

export function edgeHomePage(): Response {
  return page("wicket edge", `<h1>wicket edge</h1><p>This is a wicket edge: identity-aware access to SSH servers with no inbound ports.</p>`);
}

// Which guide in docs/ covers a command, for the last line of its --help. Looked up by the
// command's words, longest first: `edge app add` falls back to `edge app`, then `edge`.
const DOCS = "docs/";

export const GUIDES: Record<string, string> = {
  "": "README.md",
  access: "commands.md#client",
  "access ssh-gen": "admin.md#ssh-certificates-instead-of-keys",
  doctor: "troubleshooting.md",
  tunnel: "commands.md#server",
  "tunnel doctor": "troubleshooting.md",
  "tunnel service": "deploy.md#keep-the-connector-running",
  "tunnel login": "cloudflared.md",
  edge: "admin.md",
  "edge serve": "deploy.md",
  "edge cert": "deploy.md#certificates-from-lets-encrypt-acme",
  "edge recording": "terminal.md",
  "edge node": "cluster.md",
  "edge token": "ci.md",
  "edge tunnel-cert": "security.md#servers-and-their-hostnames",
};

/** The guide for a command named by its words (`["edge", "app", "add"]`), as a path in the source. */
export function guideFor(words: string[]): string {
  for (let n = words.length; n >= 0; n--) {
    const guide = GUIDES[words.slice(0, n).join(" ")];
    if (guide) return guide === "README.md" ? guide : DOCS + guide;
  }
  return "README.md";
}

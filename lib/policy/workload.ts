// The `workload:` policy rule: a CI job or other workload, known by the claims of the ID
// token its platform signed (lib/auth/workload.ts checks the token). Pure: the grammar, the
// match and the sentence that says which claim did not match.
//
//   workload:github:repository=acme/deploy,ref=refs/heads/main
//   workload:github:repository=acme/*,environment=production;principal=deploy
//   workload:gitlab:project_path=acme/infra;principal=claim:user_login
//
// Values are compared whole and with case; `*` in a rule's value stands for any run of
// characters. What the token says is never a pattern: a `*` or `,` in a claim is only itself.

/** A workload as the edge knows it once its ID token was verified. */
export type Workload = {
  /** The name of the issuer in edge.yaml (`workload-issuers:`), e.g. `github`. */
  issuer: string;
  /** The token's `sub`. */
  subject: string;
  /** What the token says of the job, less its bookkeeping (iss, aud, exp, …). */
  claims: Record<string, unknown>;
};

export type ClaimMatch = { claim: string; pattern: string };
export type WorkloadPrincipal = { user: string } | { claim: string };
export type WorkloadSpec = { issuer: string; claims: ClaimMatch[]; principal?: WorkloadPrincipal };

const ISSUER = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const CLAIM = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
// a value is anything printable but the separators; the rule is one word on a command line
const VALUE = /^[^\s,;\x00-\x1f\x7f]{1,256}$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

export const WORKLOAD_EXAMPLE = "github:repository=acme/deploy,ref=refs/heads/main";

/** The rule's value parsed, or a sentence saying what is wrong with it. */
export function parseWorkload(value: string): WorkloadSpec | string {
  const colon = value.indexOf(":");
  if (colon < 0) return `names no claims; write the issuer, then claim=value pairs`;
  const issuer = value.slice(0, colon);
  if (!ISSUER.test(issuer)) return `names the issuer ${JSON.stringify(issuer)}, which is not a name of workload-issuers in edge.yaml`;
  const [pairs = "", option, extra] = value.slice(colon + 1).split(";");
  if (extra !== undefined) return `has more than one ";"`;
  const claims: ClaimMatch[] = [];
  for (const pair of pairs.split(",")) {
    const eq = pair.indexOf("=");
    const [claim, pattern] = eq < 0 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
    if (eq < 0 || !CLAIM.test(claim)) return `has ${JSON.stringify(pair)}, which is not claim=value`;
    if (!VALUE.test(pattern)) return `gives the claim "${claim}" no value it can match (values have no spaces, "," or ";")`;
    if (claims.some((c) => c.claim === claim)) return `names the claim "${claim}" twice`;
    claims.push({ claim, pattern });
  }
  // every job the issuer signs for: for GitHub or GitLab, anyone's repository
  if (claims.every((c) => /^\**$/.test(c.pattern))) return `matches every job the issuer signs for, whoever's it is; pin a claim such as repository or project_path`;
  const spec: WorkloadSpec = { issuer, claims };
  if (option !== undefined) {
    const m = /^principal=(?:claim:([A-Za-z_][A-Za-z0-9_.-]{0,63})|(.*))$/.exec(option);
    if (!m) return `has ";${option}"; the one option is ";principal=<unix-user>" or ";principal=claim:<name>"`;
    if (m[1]) spec.principal = { claim: m[1] };
    else if (USER.test(m[2]!)) spec.principal = { user: m[2]! };
    else return `names the principal ${JSON.stringify(m[2])}, which is not a Unix user name`;
  }
  return spec;
}

/** The rule's value as written: the canonical form of a parsed one. */
export function formatWorkload(s: WorkloadSpec): string {
  const p = s.principal ? `;principal=${"user" in s.principal ? s.principal.user : `claim:${s.principal.claim}`}` : "";
  return `${s.issuer}:${s.claims.map((c) => `${c.claim}=${c.pattern}`).join(",")}${p}`;
}

const globs = new Map<string, RegExp>();
function glob(pattern: string): RegExp {
  let re = globs.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, "\\$&")).join(".*")}$`, "s");
    if (globs.size > 1000) globs.clear();
    globs.set(pattern, re);
  }
  return re;
}

/** A claim's values as text: a string, a number or a boolean, or the strings of a list. Objects match nothing. */
function claimValues(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (typeof v === "number" || typeof v === "boolean") return [String(v)];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

const claimOf = (w: Workload, name: string): unknown => (Object.hasOwn(w.claims, name) ? w.claims[name] : undefined);

const shown = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
};

/** Why the workload does not match the rule, naming the first claim that failed; undefined when it matches. */
export function workloadMismatch(s: WorkloadSpec, w: Workload | undefined): string | undefined {
  if (!w) return "the client is no workload";
  if (w.issuer !== s.issuer) return `its token is from the issuer "${w.issuer}", not "${s.issuer}"`;
  for (const c of s.claims) {
    const v = claimOf(w, c.claim);
    if (v === undefined) return `its token has no "${c.claim}" claim (wanted ${c.claim}=${c.pattern})`;
    if (!claimValues(v).some((x) => glob(c.pattern).test(x))) return `its ${c.claim} is ${shown(v)}, not ${c.pattern}`;
  }
  return undefined;
}

export const workloadMatches = (s: WorkloadSpec, w: Workload | undefined) => workloadMismatch(s, w) === undefined;

/** What the audit and a decision say of a match: `repository="acme/deploy", ref="refs/heads/main"`. */
export function matchedClaims(s: WorkloadSpec, w: Workload): string {
  return s.claims.map((c) => `${c.claim}=${shown(claimOf(w, c.claim))}`).join(", ");
}

/** A workload's name in logs, the audit and live sessions: `workload:github:repo:acme/deploy:ref:refs/heads/main`. */
export const workloadLabel = (w: Workload) => `workload:${w.issuer}:${w.subject.slice(0, 200)}`;

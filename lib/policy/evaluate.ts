// The access policy evaluator: a pure function from ordered policies and a subject to a
// decision that says which policy and which rule decided, so every decision can be
// explained and tested without a connection.
//
// A policy matches when any include rule matches, no exclude rule matches and every
// require rule matches; the first matching policy in `position` order decides; when none
// matches, the answer is deny.
import { usageError } from "../cli/exit.ts";
import { inRange, parseCidr } from "./cidr.ts";
import { formatWorkload, matchedClaims, parseWorkload, WORKLOAD_EXAMPLE, workloadLabel, workloadMatches, workloadMismatch, type Workload, type WorkloadSpec } from "./workload.ts";

// Rule kinds are a closed union checked by the compiler, with one entry per kind in RULES
// below: a new kind is a new member and a new entry.
export type TokenRule = { kind: "token"; value: string };
export type AnyTokenRule = { kind: "any-token" };
export type EveryoneRule = { kind: "everyone" };
export type EmailRule = { kind: "email"; value: string };
export type DomainRule = { kind: "domain"; value: string };
export type GroupRule = { kind: "group"; value: string };
export type IdpRule = { kind: "idp"; value: string };
export type IpRule = { kind: "ip"; value: string };
export type MfaRule = { kind: "mfa" };
/** A CI job or other workload by its ID token's claims (lib/policy/workload.ts): `workload:github:repository=acme/deploy`. */
export type WorkloadRule = { kind: "workload"; value: string };
export type Rule = TokenRule | AnyTokenRule | EveryoneRule | EmailRule | DomainRule | GroupRule | IdpRule | IpRule | MfaRule | WorkloadRule;
export type RuleKind = Rule["kind"];

export type PolicyAction = "allow" | "deny";
export type PolicyRules = { include: Rule[]; exclude: Rule[]; require: Rule[] };

export type Policy = {
  id: string;
  name: string;
  action: PolicyAction;
  position: number;
  rules: PolicyRules;
};

/** Who is asking: what the edge has authenticated, and where the request came from. */
export type Subject = {
  serviceToken?: { id: string; name: string };
  email?: string;
  /** IdP groups of the signed-in user. */
  groups?: string[];
  /** Name of the identity provider the user signed in with. */
  idp?: string;
  /** Authentication methods (the OIDC `amr` claim), e.g. ["pwd", "otp"]. */
  amr?: string[];
  /** Client IP address (the TCP peer, or X-Forwarded-For from a trusted proxy). */
  ip?: string;
  /** A workload signed in with its platform's ID token: only `workload:` rules (and ip:) match it. */
  workload?: Workload;
};

/** amr values that mean a second factor was used (RFC 8176). */
const MFA_METHODS = new Set(["mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina", "vbm", "pop", "sc", "tel"]);

const lower = (s: string | undefined) => s?.toLowerCase();

/** A rule with one required, non-empty value, matched by `test`. */
function valued<K extends "email" | "domain" | "group" | "idp" | "ip">(kind: K, example: string, test: (value: string, s: Subject) => boolean, check?: (value: string) => string | undefined): RuleSpec<Extract<Rule, { kind: K }>> {
  return {
    syntax: `${kind}:<value>`,
    parse(value) {
      if (!value) throw usageError(`the rule "${kind}" needs a value, e.g. "${kind}:${example}"`);
      const problem = check?.(value);
      if (problem) throw usageError(`the rule "${kind}:${value}" ${problem}, e.g. "${kind}:${example}"`);
      return { kind, value } as Extract<Rule, { kind: K }>;
    },
    // Every kind named in K has a value; the compiler cannot see that through the Extract.
    format: (r) => `${kind}:${(r as { value: string }).value}`,
    matches: (r, s) => test((r as { value: string }).value, s),
  };
}

export type Decision = {
  allowed: boolean;
  policy?: { id: string; name: string };
  /** The rule that decided, e.g. `include token:deploy`. */
  rule?: string;
  /** The include rule that matched, as parsed: where a workload's SSH principal comes from. */
  matched?: Rule;
  explanation: string;
};

type RuleSpec<R extends Rule> = {
  /** How the rule is written on the command line: `token:<id-or-name>`. */
  syntax: string;
  parse(value: string | undefined): R;
  format(rule: R): string;
  matches(rule: R, subject: Subject): boolean;
};

const noValue = (kind: string, value: string | undefined) => {
  if (value !== undefined) throw usageError(`the rule "${kind}" takes no value; write it as "${kind}"`);
};

const RULES: { [K in RuleKind]: RuleSpec<Extract<Rule, { kind: K }>> } = {
  token: {
    syntax: "token:<id-or-name>",
    parse(value) {
      if (!value) throw usageError(`the rule "token" needs a service token id or name, e.g. "token:ci"`);
      return { kind: "token", value };
    },
    format: (r) => `token:${r.value}`,
    matches: (r, s) => s.serviceToken !== undefined && (s.serviceToken.id === r.value || s.serviceToken.name === r.value),
  },
  "any-token": {
    syntax: "any-token",
    parse: (value) => (noValue("any-token", value), { kind: "any-token" }),
    format: () => "any-token",
    matches: (_r, s) => s.serviceToken !== undefined,
  },
  // "everyone" means everyone the edge has authenticated: a user or a service token. A
  // subject with no identity at all is not "everyone".
  everyone: {
    syntax: "everyone",
    parse: (value) => (noValue("everyone", value), { kind: "everyone" }),
    format: () => "everyone",
    matches: (_r, s) => s.serviceToken !== undefined || s.email !== undefined,
  },
  email: valued("email", "jdoe@example.com", (v, s) => lower(s.email) === v.toLowerCase(), (v) => (/^[^@\s]+@[^@\s]+$/.test(v) ? undefined : "is not an e-mail address")),
  domain: valued("domain", "example.com", (v, s) => lower(s.email)?.split("@")[1] === v.toLowerCase().replace(/^@/, "")),
  group: valued("group", "eng", (v, s) => s.groups?.includes(v) ?? false),
  idp: valued("idp", "okta", (v, s) => s.idp === v),
  ip: valued("ip", "10.0.0.0/8", (v, s) => inRange(v, s.ip), (v) => (parseCidr(v) ? undefined : "is not an IPv4 or IPv6 address or CIDR range")),
  mfa: {
    syntax: "mfa",
    parse: (value) => (noValue("mfa", value), { kind: "mfa" }),
    format: () => "mfa",
    matches: (_r, s) => s.amr?.some((m) => MFA_METHODS.has(m)) ?? false,
  },
  workload: {
    syntax: "workload:<issuer>:<claim>=<value>,…[;principal=<unix-user>]",
    parse(value) {
      const spec = value ? parseWorkload(value) : "needs an issuer and claims";
      if (typeof spec === "string") throw usageError(`the rule "workload:${value ?? ""}" ${spec}, e.g. "workload:${WORKLOAD_EXAMPLE}"`);
      return { kind: "workload", value: formatWorkload(spec) };
    },
    format: (r) => `workload:${r.value}`,
    matches: (r, s) => workloadMatches(workloadSpec(r), s.workload),
  },
};

/** A stored workload rule's value, parsed; stored rules were checked when written. */
export function workloadSpec(r: WorkloadRule): WorkloadSpec {
  const spec = parseWorkload(r.value);
  if (typeof spec === "string") throw new UnknownRule(`workload (${spec})`);
  return spec;
}

const RULE_SYNTAX = Object.values(RULES).map((r) => r.syntax);

function spec(kind: string): RuleSpec<Rule> | undefined {
  return Object.hasOwn(RULES, kind) ? (RULES[kind as RuleKind] as RuleSpec<Rule>) : undefined;
}

/** Parses a rule as written on the command line: `token:ci`, `any-token`, `everyone`. */
export function parseRule(text: string): Rule {
  const s = text.trim();
  const colon = s.indexOf(":");
  const kind = colon < 0 ? s : s.slice(0, colon);
  const value = colon < 0 ? undefined : s.slice(colon + 1).trim();
  const rs = spec(kind);
  if (!rs) throw usageError(`unknown rule "${text}"; use one of ${RULE_SYNTAX.join(", ")}`);
  return rs.parse(value);
}

/** A rule from JSON (an object or a rule string), checked: the admin API and the store use this. */
export function toRule(x: unknown): Rule {
  if (typeof x === "string") return parseRule(x);
  if (x && typeof x === "object" && typeof (x as { kind?: unknown }).kind === "string") {
    const { kind, value } = x as { kind: string; value?: unknown };
    const rs = spec(kind);
    if (!rs) throw usageError(`unknown rule kind "${kind}"; use one of ${RULE_SYNTAX.join(", ")}`);
    if (value !== undefined && typeof value !== "string") throw usageError(`the value of a "${kind}" rule must be a string`);
    return rs.parse(value);
  }
  throw usageError(`a rule must be a string such as "token:ci" or an object such as {"kind":"token","value":"ci"}`);
}

export function formatRule(rule: Rule): string {
  const rs = spec(rule.kind);
  return rs ? rs.format(rule) : `${rule.kind}(unknown)`;
}

function describeSubject(s: Subject): string {
  if (s.workload) return workloadLabel(s.workload);
  if (s.serviceToken) return `service token "${s.serviceToken.name}"`;
  if (s.email) return `user "${s.email}"`;
  return "an unauthenticated request";
}

// A rule of a kind this build does not know (written by a newer node sharing the store)
// cannot be evaluated; the whole decision fails closed rather than guessing.
class UnknownRule extends Error {}

function matches(rule: Rule, subject: Subject): boolean {
  const rs = spec(rule.kind);
  if (!rs) throw new UnknownRule(rule.kind);
  return rs.matches(rule, subject);
}

type Match = { rule: string; include: Rule };

function matchPolicy(p: Policy, subject: Subject): Match | undefined {
  const include = p.rules.include.find((r) => matches(r, subject));
  if (!include) return undefined;
  if (p.rules.exclude.some((r) => matches(r, subject))) return undefined;
  if (!p.rules.require.every((r) => matches(r, subject))) return undefined;
  return { rule: `include ${formatRule(include)}`, include };
}

/** For a workload no policy let in: the first allow policy that names its issuer, and the claim that failed there. */
function workloadMiss(ordered: readonly Policy[], w: Workload, subject: Subject): string {
  const mismatch = (r: Rule) => (r.kind === "workload" ? workloadMismatch(workloadSpec(r), w) : undefined);
  for (const p of ordered) {
    if (p.action !== "allow") continue;
    const ours = p.rules.include.filter((r) => r.kind === "workload" && workloadSpec(r).issuer === w.issuer);
    if (ours.length === 0) continue;
    const include = ours.find((r) => matches(r, subject));
    if (!include) return `; policy "${p.name}" wants ${formatRule(ours[0]!)}, and ${mismatch(ours[0]!)}`;
    const exclude = p.rules.exclude.find((r) => matches(r, subject));
    if (exclude) return `; policy "${p.name}" excludes it (exclude ${formatRule(exclude)}: ${matchedClaimsOf(exclude, w)})`;
    const require = p.rules.require.find((r) => !matches(r, subject));
    if (require) return `; policy "${p.name}" requires ${formatRule(require)}${mismatch(require) ? `, and ${mismatch(require)}` : ""}`;
  }
  return `; no policy names the issuer "${w.issuer}"`;
}

const matchedClaimsOf = (r: Rule, w: Workload) => (r.kind === "workload" ? matchedClaims(workloadSpec(r), w) : formatRule(r));

/** Decides whether `subject` may pass, by the first policy (in `position` order) that matches. */
export function evaluate(policies: readonly Policy[], subject: Subject): Decision {
  const ordered = [...policies].sort((a, b) => a.position - b.position);
  for (const p of ordered) {
    let m: Match | undefined;
    try {
      m = matchPolicy(p, subject);
    } catch (e) {
      if (!(e instanceof UnknownRule)) throw e;
      return {
        allowed: false,
        policy: { id: p.id, name: p.name },
        explanation: `policy "${p.name}" has a rule of unknown kind "${e.message}"; upgrade this edge node`,
      };
    }
    if (!m) continue;
    const allowed = p.action === "allow";
    // a workload's decision says which claims matched: `(include workload:github:ref=… : ref="refs/heads/main")`
    const claims = subject.workload && m.include.kind === "workload" ? `: ${matchedClaims(workloadSpec(m.include), subject.workload)}` : "";
    return {
      allowed,
      policy: { id: p.id, name: p.name },
      rule: m.rule,
      matched: m.include,
      explanation: `${allowed ? "allowed" : "denied"} by policy "${p.name}" (${m.rule}${claims})`,
    };
  }
  let miss = "";
  try {
    if (subject.workload) miss = workloadMiss(ordered, subject.workload, subject);
  } catch (e) {
    if (!(e instanceof UnknownRule)) throw e;
  }
  return { allowed: false, explanation: `no policy allows ${describeSubject(subject)}${miss}` };
}

/** A rule's answer for a subject known only in part: "maybe" when it hangs on what is not known. */
type Maybe = "yes" | "maybe" | "no";

/** What `couldAllow` leaves open: the client's address always; with `anyMailbox`, which mailbox too. */
export type PartialSubject = Omit<Subject, "ip" | "serviceToken"> & { anyMailbox?: boolean };

function mayMatch(rule: Rule, s: PartialSubject): Maybe {
  if (rule.kind === "ip") return "maybe";
  // a mailbox no rule names: no email or domain rule matches it, and it is still someone's
  if (s.anyMailbox && (rule.kind === "email" || rule.kind === "domain")) return "no";
  return matches(rule, s.anyMailbox ? { ...s, email: s.email ?? "" } : s) ? "yes" : "no";
}

const anyOf = (xs: Maybe[]): Maybe => (xs.includes("yes") ? "yes" : xs.includes("maybe") ? "maybe" : "no");
const allOf = (xs: Maybe[]): Maybe => (xs.includes("no") ? "no" : xs.includes("maybe") ? "maybe" : "yes");

function mayMatchPolicy(p: Policy, s: PartialSubject): Maybe {
  const include = anyOf(p.rules.include.map((r) => mayMatch(r, s)));
  const exclude = anyOf(p.rules.exclude.map((r) => mayMatch(r, s)));
  const require = allOf(p.rules.require.map((r) => mayMatch(r, s)));
  if (include === "no" || exclude === "yes" || require === "no") return "no";
  return include === "yes" && exclude === "no" && require === "yes" ? "yes" : "maybe";
}

/**
 * Whether `evaluate` could allow this subject from some client address: an `ip:` rule counts
 * as either answer, so this may say yes where no address would do, never no where one would.
 * With `anyMailbox`, whether it would allow a person whatever their mailbox (an `everyone`,
 * an `idp:` or an `ip:` rule lets anyone in). A rule of unknown kind ends it with no, as the
 * decision itself fails closed there.
 */
export function couldAllow(policies: readonly Policy[], subject: PartialSubject): boolean {
  for (const p of [...policies].sort((a, b) => a.position - b.position)) {
    let m: Maybe;
    try {
      m = mayMatchPolicy(p, subject);
    } catch (e) {
      if (e instanceof UnknownRule) return false;
      throw e;
    }
    if (p.action === "allow" && m !== "no") return true;
    if (p.action === "deny" && m === "yes") return false;
  }
  return false;
}

/**
 * The sentence a client is told, and `edge policy test` prints: the explanation with the
 * application in it. Nothing secret is in it: policy names, rule text, the subject's name.
 */
export function decisionMessage(host: string, d: Decision): string {
  return d.policy && d.rule ? `access to ${host} ${d.explanation}` : `access to ${host} ${d.allowed ? "allowed" : "denied"}: ${d.explanation}`;
}

/** A policy's rules in one line, as the admin commands print them and the audit records them. */
export function describeRules(rules: PolicyRules): string {
  const part = (label: string, rs: PolicyRules["include"]) => (rs.length ? `${label} ${rs.map(formatRule).join(", ")}` : "");
  return [part("include", rules.include), part("exclude", rules.exclude), part("require", rules.require)].filter(Boolean).join("; ");
}

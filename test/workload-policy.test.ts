// The `workload:` policy rule: its grammar, how it matches an ID token's claims, how it
// composes with the other rules, and decisions that name the claim that matched or failed.
import { describe, expect, test } from "bun:test";
import { evaluate, formatRule, parseRule, type Policy, type Rule, type Subject } from "../lib/policy/evaluate.ts";
import type { Workload } from "../lib/policy/workload.ts";
import { githubClaims } from "./helpers/workload-issuer.ts";

const job = (repository: string, ref: string, extra: Record<string, unknown> = {}): Workload => {
  const claims = githubClaims(repository, ref, extra);
  return { issuer: "github", subject: String(claims.sub), claims };
};
const policy = (rules: Partial<Policy["rules"]>, o: Partial<Policy> = {}): Policy => ({
  id: o.id ?? "p1",
  name: o.name ?? "deploy",
  action: o.action ?? "allow",
  position: o.position ?? 1,
  rules: { include: rules.include ?? [], exclude: rules.exclude ?? [], require: rules.require ?? [] },
});
const rule = (s: string): Rule => parseRule(s);
const MAIN = rule("workload:github:repository=acme/deploy,ref=refs/heads/main");

describe("the workload: rule's grammar", () => {
  test("an issuer and claim=value pairs, written back as given", () => {
    expect(formatRule(MAIN)).toBe("workload:github:repository=acme/deploy,ref=refs/heads/main");
    expect(formatRule(rule("workload:gitlab:project_path=acme/*;principal=deploy"))).toBe("workload:gitlab:project_path=acme/*;principal=deploy");
    expect(formatRule(rule("workload:k8s:sub=system:serviceaccount:ci:runner"))).toBe("workload:k8s:sub=system:serviceaccount:ci:runner");
  });

  test.each([
    ["workload", /needs an issuer and claims/],
    ["workload:github", /names no claims/],
    ["workload:GitHub:repository=a/b", /not a name of workload-issuers/],
    ["workload:github:repository", /not claim=value/],
    ["workload:github:repository=", /no value it can match/],
    ["workload:github:repository=a/b,repository=a/c", /names the claim "repository" twice/],
    ["workload:github:repository=*", /matches every job the issuer signs for/],
    ["workload:github:repository=a/b;principal=Not A User", /not a Unix user name/],
    ["workload:github:repository=a/b;role=admin", /the one option is/],
    ["workload:github:repository=a/b;principal=x;principal=y", /more than one ";"/],
  ])("%s is refused with a reason", (text, reason) => {
    expect(() => parseRule(text)).toThrow(reason);
  });
});

describe("matching a workload's claims", () => {
  const allow = [policy({ include: [MAIN] })];

  test("the right repository on the right branch is let in, and the decision says which claims matched", () => {
    const d = evaluate(allow, { workload: job("acme/deploy", "refs/heads/main") });
    expect(d.allowed).toBe(true);
    expect(d.rule).toBe("include workload:github:repository=acme/deploy,ref=refs/heads/main");
    expect(d.explanation).toContain(`repository="acme/deploy", ref="refs/heads/main"`);
  });

  test("another branch is refused, and the explanation names the claim that failed", () => {
    const d = evaluate(allow, { workload: job("acme/deploy", "refs/heads/dev") });
    expect(d.allowed).toBe(false);
    expect(d.explanation).toContain(`its ref is "refs/heads/dev", not refs/heads/main`);
  });

  test("a fork's pull request (another repository, a pull ref) is refused on its repository", () => {
    const d = evaluate(allow, { workload: job("mallory/deploy", "refs/pull/7/merge", { event_name: "pull_request" }) });
    expect(d.allowed).toBe(false);
    expect(d.explanation).toContain(`its repository is "mallory/deploy", not acme/deploy`);
  });

  test("a token from another issuer does not match, however its claims read", () => {
    expect(evaluate(allow, { workload: { ...job("acme/deploy", "refs/heads/main"), issuer: "gitlab" } }).allowed).toBe(false);
  });

  test("a claim the token lacks fails, by name", () => {
    const d = evaluate([policy({ include: [rule("workload:github:repository=acme/deploy,environment=production")] })], { workload: job("acme/deploy", "refs/heads/main") });
    expect(d.explanation).toContain(`has no "environment" claim`);
  });

  test("* in a rule's value stands for any run of characters", () => {
    const p = [policy({ include: [rule("workload:github:repository=acme/*,ref=refs/heads/release-*")] })];
    expect(evaluate(p, { workload: job("acme/web", "refs/heads/release-1.2") }).allowed).toBe(true);
    expect(evaluate(p, { workload: job("acme/web", "refs/heads/main") }).allowed).toBe(false);
    expect(evaluate(p, { workload: job("acmecorp/web", "refs/heads/release-1") }).allowed).toBe(false);
  });

  test("a * or a comma in the token's claim is only itself: no glob, no second claim", () => {
    expect(evaluate(allow, { workload: job("acme/*", "refs/heads/main") }).allowed).toBe(false);
    // a repository named to look like the rule's two pairs
    const sly = job("acme/deploy,ref=refs/heads/main", "refs/heads/dev");
    expect(evaluate(allow, { workload: sly }).allowed).toBe(false);
    expect(evaluate([policy({ include: [rule("workload:github:repository=acme/deploy")] })], { workload: sly }).allowed).toBe(false);
    // a regular expression's characters in a rule are literal too
    expect(evaluate([policy({ include: [rule("workload:github:repository=acme/de.loy")] })], { workload: job("acme/deploy", "refs/heads/main") }).allowed).toBe(false);
  });

  test("numbers and booleans match as text, lists by any element, objects never", () => {
    const w = job("acme/deploy", "refs/heads/main", { run_attempt: 2, protected: true, groups: ["ops", "dev"], nested: { a: "b" } });
    const m = (r: string) => evaluate([policy({ include: [rule(r)] })], { workload: w }).allowed;
    expect(m("workload:github:run_attempt=2")).toBe(true);
    expect(m("workload:github:protected=true")).toBe(true);
    expect(m("workload:github:groups=ops")).toBe(true);
    expect(m("workload:github:nested=*b*")).toBe(false);
  });
});

describe("composition with the other rules", () => {
  const w: Subject = { workload: job("acme/deploy", "refs/heads/main", { environment: "staging" }), ip: "10.1.2.3" };

  test("everyone and any-token do not match a workload: anyone's repository can get a token for the edge", () => {
    expect(evaluate([policy({ include: [rule("everyone")] })], w).allowed).toBe(false);
    expect(evaluate([policy({ include: [rule("any-token")] })], w).allowed).toBe(false);
    expect(evaluate([policy({ include: [rule("idp:github")] })], w).allowed).toBe(false);
  });

  test("require: every required rule must match too, and the explanation says which did not", () => {
    const p = [policy({ include: [MAIN], require: [rule("workload:github:environment=production")] })];
    const d = evaluate(p, w);
    expect(d.allowed).toBe(false);
    expect(d.explanation).toContain(`requires workload:github:environment=production, and its environment is "staging"`);
    expect(evaluate(p, { ...w, workload: { ...w.workload!, claims: { ...w.workload!.claims, environment: "production" } } }).allowed).toBe(true);
  });

  test("exclude: a matching exclude rule keeps it out, and says so", () => {
    const d = evaluate([policy({ include: [MAIN], exclude: [rule("workload:github:actor=octocat")] })], w);
    expect(d.allowed).toBe(false);
    expect(d.explanation).toContain(`excludes it (exclude workload:github:actor=octocat: actor="octocat")`);
  });

  test("ip rules apply to workloads like to anyone", () => {
    expect(evaluate([policy({ include: [MAIN], require: [rule("ip:10.0.0.0/8")] })], w).allowed).toBe(true);
    expect(evaluate([policy({ include: [MAIN], require: [rule("ip:192.168.0.0/16")] })], w).allowed).toBe(false);
  });

  test("a deny policy first in order wins, naming its rule", () => {
    const d = evaluate([policy({ include: [rule("workload:github:ref=refs/heads/main")] }, { action: "deny", name: "no main", position: 0, id: "p0" }), policy({ include: [MAIN] })], w);
    expect(d.allowed).toBe(false);
    expect(d.explanation).toStartWith(`denied by policy "no main" (include workload:github:ref=refs/heads/main`);
  });

  test("the matched rule is in the decision, with the principal it binds", () => {
    const bound = rule("workload:github:repository=acme/deploy;principal=deploy");
    expect(evaluate([policy({ include: [bound] })], w).matched).toEqual(bound);
  });
});

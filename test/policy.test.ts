// The policy evaluator, as a table: policies, a subject, and the decision and explanation
// the edge must give. Pure function, no store, no connection.
import { describe, expect, test } from "bun:test";
import { WicketError } from "../lib/cli/exit.ts";
import { evaluate, formatRule, parseRule, toRule, type Policy, type Rule, type Subject } from "../lib/policy/evaluate.ts";

let n = 0;
function policy(name: string, action: "allow" | "deny", include: string[], more: { exclude?: string[]; require?: string[]; position?: number } = {}): Policy {
  return {
    id: `pol_${name}`,
    name,
    action,
    position: more.position ?? n++,
    rules: { include: include.map(parseRule), exclude: (more.exclude ?? []).map(parseRule), require: (more.require ?? []).map(parseRule) },
  };
}

const deploy: Subject = { serviceToken: { id: "wkt_0000000000000001", name: "deploy" } };
const backup: Subject = { serviceToken: { id: "wkt_0000000000000002", name: "backup" } };
const jdoe: Subject = { email: "jdoe@example.com" };
const nobody: Subject = {};

type Case = [name: string, policies: Policy[], subject: Subject, allowed: boolean, explanation: string];

const cases: Case[] = [
  ["no policies is a deny", [], deploy, false, `no policy allows service token "deploy"`],
  ["no policies names a user", [], jdoe, false, `no policy allows user "jdoe@example.com"`],
  ["a token rule matches by name", [policy("ci", "allow", ["token:deploy"])], deploy, true, `allowed by policy "ci" (include token:deploy)`],
  ["a token rule matches by id", [policy("ci", "allow", ["token:wkt_0000000000000001"])], deploy, true, `allowed by policy "ci" (include token:wkt_0000000000000001)`],
  ["a token rule does not match another token", [policy("ci", "allow", ["token:deploy"])], backup, false, `no policy allows service token "backup"`],
  ["any include suffices", [policy("ci", "allow", ["token:deploy", "token:backup"])], backup, true, `allowed by policy "ci" (include token:backup)`],
  ["any-token matches any service token", [policy("tokens", "allow", ["any-token"])], backup, true, `allowed by policy "tokens" (include any-token)`],
  ["any-token does not match a user", [policy("tokens", "allow", ["any-token"])], jdoe, false, `no policy allows user "jdoe@example.com"`],
  ["everyone matches a user", [policy("all", "allow", ["everyone"])], jdoe, true, `allowed by policy "all" (include everyone)`],
  ["everyone matches a service token", [policy("all", "allow", ["everyone"])], deploy, true, `allowed by policy "all" (include everyone)`],
  ["everyone does not match a subject with no identity", [policy("all", "allow", ["everyone"])], nobody, false, `no policy allows an unauthenticated request`],
  ["a deny before an allow denies", [policy("block", "deny", ["token:deploy"], { position: 0 }), policy("ci", "allow", ["any-token"], { position: 1 })], deploy, false, `denied by policy "block" (include token:deploy)`],
  ["an allow before a deny allows", [policy("ci", "allow", ["any-token"], { position: 0 }), policy("block", "deny", ["token:deploy"], { position: 1 })], deploy, true, `allowed by policy "ci" (include any-token)`],
  ["order is by position, not by list order", [policy("ci", "allow", ["any-token"], { position: 5 }), policy("block", "deny", ["everyone"], { position: 2 })], deploy, false, `denied by policy "block" (include everyone)`],
  ["a deny that does not match falls through", [policy("block", "deny", ["token:backup"], { position: 0 }), policy("ci", "allow", ["any-token"], { position: 1 })], deploy, true, `allowed by policy "ci" (include any-token)`],
  ["exclude beats include", [policy("tokens", "allow", ["any-token"], { exclude: ["token:deploy"] })], deploy, false, `no policy allows service token "deploy"`],
  ["exclude leaves others included", [policy("tokens", "allow", ["any-token"], { exclude: ["token:deploy"] })], backup, true, `allowed by policy "tokens" (include any-token)`],
  ["an excluded subject falls to the next policy", [policy("tokens", "allow", ["any-token"], { exclude: ["token:deploy"], position: 0 }), policy("deploy", "allow", ["token:deploy"], { position: 1 })], deploy, true, `allowed by policy "deploy" (include token:deploy)`],
  ["require must match too", [policy("all", "allow", ["everyone"], { require: ["any-token"] })], jdoe, false, `no policy allows user "jdoe@example.com"`],
  ["require that matches lets include decide", [policy("all", "allow", ["everyone"], { require: ["any-token"] })], backup, true, `allowed by policy "all" (include everyone)`],
  ["every require must match", [policy("strict", "allow", ["any-token"], { require: ["any-token", "token:deploy"] })], backup, false, `no policy allows service token "backup"`],
];

describe("evaluate", () => {
  test.each(cases)("%s", (_name, policies, subject, allowed, explanation) => {
    const d = evaluate(policies, subject);
    expect({ allowed: d.allowed, explanation: d.explanation }).toEqual({ allowed, explanation });
  });

  test("a decision names the policy and the rule that decided", () => {
    const d = evaluate([policy("ci", "allow", ["token:deploy"])], deploy);
    expect(d.policy).toEqual({ id: "pol_ci", name: "ci" });
    expect(d.rule).toBe("include token:deploy");
  });

  test("a rule of an unknown kind fails closed", () => {
    const p = policy("future", "allow", ["everyone"]);
    p.rules.exclude.push({ kind: "geo" } as unknown as Rule);
    const d = evaluate([p], jdoe);
    expect(d.allowed).toBe(false);
    expect(d.explanation).toContain(`unknown kind "geo"`);
  });

  test("does not reorder the caller's array", () => {
    const ps = [policy("b", "allow", ["everyone"], { position: 2 }), policy("a", "allow", ["everyone"], { position: 1 })];
    evaluate(ps, jdoe);
    expect(ps.map((p) => p.name)).toEqual(["b", "a"]);
  });
});

describe("parseRule", () => {
  test.each([
    ["token:ci", { kind: "token", value: "ci" }],
    [" token:wkt_abc ", { kind: "token", value: "wkt_abc" }],
    ["any-token", { kind: "any-token" }],
    ["everyone", { kind: "everyone" }],
  ] as [string, Rule][])("%p", (text, rule) => {
    expect(parseRule(text)).toEqual(rule);
    expect(parseRule(formatRule(rule))).toEqual(rule);
  });

  test.each([
    ["geo:fr", `unknown rule "geo:fr"; use one of token:<id-or-name>, any-token, everyone, email:<value>, domain:<value>, group:<value>, idp:<value>, ip:<value>, mfa`],
    ["email:nobody", `the rule "email:nobody" is not an e-mail address, e.g. "email:jdoe@example.com"`],
    ["ip:10.0.0.0/33", `the rule "ip:10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR range, e.g. "ip:10.0.0.0/8"`],
    ["mfa:yes", `the rule "mfa" takes no value; write it as "mfa"`],
    ["", `unknown rule ""; use one of token:<id-or-name>, any-token, everyone, email:<value>, domain:<value>, group:<value>, idp:<value>, ip:<value>, mfa`],
    ["token", `the rule "token" needs a service token id or name, e.g. "token:ci"`],
    ["token:", `the rule "token" needs a service token id or name, e.g. "token:ci"`],
    ["everyone:x", `the rule "everyone" takes no value; write it as "everyone"`],
    ["constructor", `unknown rule "constructor"; use one of token:<id-or-name>, any-token, everyone, email:<value>, domain:<value>, group:<value>, idp:<value>, ip:<value>, mfa`],
  ])("%p is refused with a usage error", (text, message) => {
    let err: unknown;
    try {
      parseRule(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WicketError);
    expect((err as WicketError).exitCode).toBe(64);
    expect((err as WicketError).message).toBe(message);
  });

  test("toRule takes JSON objects and strings alike", () => {
    expect(toRule({ kind: "token", value: "ci" })).toEqual({ kind: "token", value: "ci" });
    expect(toRule("any-token")).toEqual({ kind: "any-token" });
    expect(() => toRule({ kind: "token", value: 3 })).toThrow(`the value of a "token" rule must be a string`);
    expect(() => toRule(42)).toThrow(/a rule must be a string/);
  });
});

// The policy evaluator, as a table: policies, a subject, and the decision and explanation
// the edge must give. Pure function, no store, no connection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { WicketError } from "../lib/cli/exit.ts";
import { decisionMessage, evaluate, formatRule, parseRule, toRule, type Policy, type Rule, type Subject } from "../lib/policy/evaluate.ts";
import { decide } from "../lib/edge/decisions/authorize.ts";
import { addApp, addPolicy, addZone, createServiceToken, openStore, type Store } from "../lib/store/index.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";

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
// Signed-in users as the sign-in flow describes them: e-mail, IdP groups, IdP, amr, address.
const alice: Subject = { email: "alice@example.com", groups: ["eng", "staff"], idp: "okta", amr: ["pwd", "otp"], ip: "10.1.2.3" };
const ann: Subject = { email: "Ann@Example.COM", groups: ["contractors"], idp: "google", amr: ["pwd"], ip: "2001:db8::5" };
const mallory: Subject = { email: "mallory@evil.test", ip: "198.51.100.9" };
const at = (s: Subject, ip: string): Subject => ({ ...s, ip });

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
  ["a token name is case-sensitive", [policy("ci", "allow", ["token:Deploy"])], deploy, false, `no policy allows service token "deploy"`],

  // e-mail and domain
  ["an e-mail rule ignores case", [policy("ann", "allow", ["email:ANN@example.com"])], ann, true, `allowed by policy "ann" (include email:ANN@example.com)`],
  ["an e-mail rule does not match another user", [policy("ann", "allow", ["email:ann@example.com"])], alice, false, `no policy allows user "alice@example.com"`],
  ["an e-mail rule does not match a service token", [policy("ann", "allow", ["email:ann@example.com"])], deploy, false, `no policy allows service token "deploy"`],
  ["a domain rule matches the e-mail's domain", [policy("staff", "allow", ["domain:example.com"])], alice, true, `allowed by policy "staff" (include domain:example.com)`],
  ["a domain rule ignores case and a leading @", [policy("staff", "allow", ["domain:@EXAMPLE.com"])], ann, true, `allowed by policy "staff" (include domain:@EXAMPLE.com)`],
  ["a domain rule does not match a subdomain", [policy("staff", "allow", ["domain:example.com"])], { email: "bob@mail.example.com" }, false, `no policy allows user "bob@mail.example.com"`],
  ["a domain rule does not match a lookalike", [policy("staff", "allow", ["domain:example.com"])], { email: "eve@badexample.com" }, false, `no policy allows user "eve@badexample.com"`],

  // groups and identity providers
  ["a group rule matches one of the user's groups", [policy("eng", "allow", ["group:eng"])], alice, true, `allowed by policy "eng" (include group:eng)`],
  ["a group rule is case-sensitive", [policy("eng", "allow", ["group:Eng"])], alice, false, `no policy allows user "alice@example.com"`],
  ["a group rule does not match a user without groups", [policy("eng", "allow", ["group:eng"])], mallory, false, `no policy allows user "mallory@evil.test"`],
  ["an excluded group beats an included domain", [policy("staff", "allow", ["domain:example.com"], { exclude: ["group:contractors"] })], ann, false, `no policy allows user "Ann@Example.COM"`],
  ["the same policy still lets the others in", [policy("staff", "allow", ["domain:example.com"], { exclude: ["group:contractors"] })], alice, true, `allowed by policy "staff" (include domain:example.com)`],
  ["a required group must be there", [policy("staff", "allow", ["everyone"], { require: ["group:staff"] })], ann, false, `no policy allows user "Ann@Example.COM"`],
  ["a required group that is there", [policy("staff", "allow", ["everyone"], { require: ["group:staff"] })], alice, true, `allowed by policy "staff" (include everyone)`],
  ["an idp rule matches the user's identity provider", [policy("okta", "allow", ["idp:okta"])], alice, true, `allowed by policy "okta" (include idp:okta)`],
  ["an idp rule does not match another provider", [policy("okta", "allow", ["idp:okta"])], ann, false, `no policy allows user "Ann@Example.COM"`],

  // client address, IPv4 and IPv6
  ["an IPv4 range contains the address", [policy("office", "allow", ["ip:10.0.0.0/8"])], alice, true, `allowed by policy "office" (include ip:10.0.0.0/8)`],
  ["an IPv4 range does not contain another", [policy("office", "allow", ["ip:10.0.0.0/8"])], mallory, false, `no policy allows user "mallory@evil.test"`],
  ["a single IPv4 address", [policy("home", "allow", ["ip:198.51.100.9"])], mallory, true, `allowed by policy "home" (include ip:198.51.100.9)`],
  ["the last address of a /24 is in it", [policy("net", "allow", ["ip:198.51.100.0/24"])], at(mallory, "198.51.100.255"), true, `allowed by policy "net" (include ip:198.51.100.0/24)`],
  ["the next address after a /24 is not", [policy("net", "allow", ["ip:198.51.100.0/24"])], at(mallory, "198.51.101.0"), false, `no policy allows user "mallory@evil.test"`],
  ["0.0.0.0/0 contains every IPv4 address", [policy("any", "allow", ["ip:0.0.0.0/0"])], mallory, true, `allowed by policy "any" (include ip:0.0.0.0/0)`],
  ["an IPv6 range contains the address", [policy("v6", "allow", ["ip:2001:db8::/32"])], ann, true, `allowed by policy "v6" (include ip:2001:db8::/32)`],
  ["an IPv6 range does not contain another", [policy("v6", "allow", ["ip:2001:db8::/32"])], at(ann, "2001:db9::1"), false, `no policy allows user "Ann@Example.COM"`],
  ["a single IPv6 address, written differently", [policy("v6", "allow", ["ip:2001:0db8:0000::5/128"])], ann, true, `allowed by policy "v6" (include ip:2001:0db8:0000::5/128)`],
  ["an IPv4 range does not contain an IPv6 address", [policy("office", "allow", ["ip:10.0.0.0/8"])], ann, false, `no policy allows user "Ann@Example.COM"`],
  ["an IPv6 range does not contain an IPv4 address", [policy("v6", "allow", ["ip:2001:db8::/32"])], alice, false, `no policy allows user "alice@example.com"`],
  ["an IPv4-mapped IPv6 address counts as IPv4", [policy("office", "allow", ["ip:10.0.0.0/8"])], at(alice, "::ffff:10.1.2.3"), true, `allowed by policy "office" (include ip:10.0.0.0/8)`],
  ["an ip rule never matches when the address is unknown", [policy("any", "allow", ["ip:0.0.0.0/0"])], deploy, false, `no policy allows service token "deploy"`],
  ["a required range lets a token in from inside", [policy("ci", "allow", ["any-token"], { require: ["ip:10.0.0.0/8"] })], at(deploy, "10.9.9.9"), true, `allowed by policy "ci" (include any-token)`],
  ["a required range keeps a token out from outside", [policy("ci", "allow", ["any-token"], { require: ["ip:10.0.0.0/8"] })], at(deploy, "192.0.2.1"), false, `no policy allows service token "deploy"`],
  ["an excluded range beats everyone", [policy("all", "allow", ["everyone"], { exclude: ["ip:198.51.100.0/24"] })], mallory, false, `no policy allows user "mallory@evil.test"`],

  // MFA (the amr claim)
  ["mfa matches a one-time password", [policy("2fa", "allow", ["mfa"])], alice, true, `allowed by policy "2fa" (include mfa)`],
  ["mfa does not match a password alone", [policy("2fa", "allow", ["mfa"])], ann, false, `no policy allows user "Ann@Example.COM"`],
  ["mfa matches a hardware key", [policy("2fa", "allow", ["mfa"])], { email: "k@example.com", amr: ["hwk"] }, true, `allowed by policy "2fa" (include mfa)`],
  ["mfa matches amr \"mfa\" itself", [policy("2fa", "allow", ["mfa"])], { email: "k@example.com", amr: ["mfa"] }, true, `allowed by policy "2fa" (include mfa)`],
  ["mfa does not match a service token", [policy("2fa", "allow", ["mfa"])], deploy, false, `no policy allows service token "deploy"`],
  ["required mfa with a second factor", [policy("staff", "allow", ["domain:example.com"], { require: ["mfa"] })], alice, true, `allowed by policy "staff" (include domain:example.com)`],
  ["required mfa without one", [policy("staff", "allow", ["domain:example.com"], { require: ["mfa"] })], ann, false, `no policy allows user "Ann@Example.COM"`],

  // precedence across policies
  ["of two allows that match, the first is named", [policy("first", "allow", ["group:eng"], { position: 0 }), policy("second", "allow", ["domain:example.com"], { position: 1 })], alice, true, `allowed by policy "first" (include group:eng)`],
  ["a deny for a group before an allow for the domain", [policy("no-contractors", "deny", ["group:contractors"], { position: 0 }), policy("staff", "allow", ["domain:example.com"], { position: 1 })], ann, false, `denied by policy "no-contractors" (include group:contractors)`],
  ["that deny leaves the rest of the domain in", [policy("no-contractors", "deny", ["group:contractors"], { position: 0 }), policy("staff", "allow", ["domain:example.com"], { position: 1 })], alice, true, `allowed by policy "staff" (include domain:example.com)`],
  ["a failed require falls through to a later deny", [policy("office", "allow", ["everyone"], { require: ["ip:10.0.0.0/8"], position: 0 }), policy("rest", "deny", ["everyone"], { position: 1 })], mallory, false, `denied by policy "rest" (include everyone)`],
  ["a deny with an exclude lets the excluded fall through", [policy("lockdown", "deny", ["everyone"], { exclude: ["group:eng"], position: 0 }), policy("eng", "allow", ["group:eng"], { position: 1 })], alice, true, `allowed by policy "eng" (include group:eng)`],
  ["and denies everyone else", [policy("lockdown", "deny", ["everyone"], { exclude: ["group:eng"], position: 0 }), policy("eng", "allow", ["group:eng"], { position: 1 })], ann, false, `denied by policy "lockdown" (include everyone)`],
  ["the include named is the first that matched", [policy("mix", "allow", ["email:nobody@example.com", "idp:okta", "group:eng"])], alice, true, `allowed by policy "mix" (include idp:okta)`],
  ["everything required, one failing, is no match", [policy("strict", "allow", ["domain:example.com"], { require: ["group:eng", "mfa", "ip:192.168.0.0/16"] })], alice, false, `no policy allows user "alice@example.com"`],
  ["everything required and met", [policy("strict", "allow", ["domain:example.com"], { require: ["group:eng", "mfa", "ip:10.0.0.0/8", "idp:okta"] })], alice, true, `allowed by policy "strict" (include domain:example.com)`],
  ["no match for a user with several policies", [policy("ci", "allow", ["any-token"], { position: 0 }), policy("eng", "allow", ["group:eng"], { position: 1 })], mallory, false, `no policy allows user "mallory@evil.test"`],
];

describe("evaluate", () => {
  test("the table has at least 50 cases", () => expect(cases.length).toBeGreaterThanOrEqual(50));

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
    expect(d.explanation).toBe(`policy "future" has a rule of unknown kind "geo"; upgrade this edge node`);
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
    ["email:jdoe@example.com", { kind: "email", value: "jdoe@example.com" }],
    ["domain:example.com", { kind: "domain", value: "example.com" }],
    ["group:eng", { kind: "group", value: "eng" }],
    ["idp:okta", { kind: "idp", value: "okta" }],
    ["ip:10.0.0.0/8", { kind: "ip", value: "10.0.0.0/8" }],
    ["ip:2001:db8::/32", { kind: "ip", value: "2001:db8::/32" }],
    ["mfa", { kind: "mfa" }],
  ] as [string, Rule][])("%p", (text, rule) => {
    expect(parseRule(text)).toEqual(rule);
    expect(parseRule(formatRule(rule))).toEqual(rule);
  });

  test.each([
    ["geo:fr", `unknown rule "geo:fr"; use one of token:<id-or-name>, any-token, everyone, email:<value>, domain:<value>, group:<value>, idp:<value>, ip:<value>, mfa, workload:<issuer>:<claim>=<value>,…[;principal=<unix-user>]`],
    ["email:nobody", `the rule "email:nobody" is not an e-mail address, e.g. "email:jdoe@example.com"`],
    ["ip:10.0.0.0/33", `the rule "ip:10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR range, e.g. "ip:10.0.0.0/8"`],
    ["mfa:yes", `the rule "mfa" takes no value; write it as "mfa"`],
    ["", `unknown rule ""; use one of token:<id-or-name>, any-token, everyone, email:<value>, domain:<value>, group:<value>, idp:<value>, ip:<value>, mfa, workload:<issuer>:<claim>=<value>,…[;principal=<unix-user>]`],
    ["token", `the rule "token" needs a service token id or name, e.g. "token:ci"`],
    ["token:", `the rule "token" needs a service token id or name, e.g. "token:ci"`],
    ["everyone:x", `the rule "everyone" takes no value; write it as "everyone"`],
    ["constructor", `unknown rule "constructor"; use one of token:<id-or-name>, any-token, everyone, email:<value>, domain:<value>, group:<value>, idp:<value>, ip:<value>, mfa, workload:<issuer>:<claim>=<value>,…[;principal=<unix-user>]`],
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

describe("decisionMessage: what a client is told", () => {
  test("names the application, the policy and the rule, or says nothing matched", () => {
    expect(decisionMessage("ssh.site.test", evaluate([policy("block", "deny", ["everyone"])], jdoe))).toBe(`access to ssh.site.test denied by policy "block" (include everyone)`);
    expect(decisionMessage("ssh.site.test", evaluate([], deploy))).toBe(`access to ssh.site.test denied: no policy allows service token "deploy"`);
    expect(decisionMessage("ssh.site.test", evaluate([policy("ci", "allow", ["any-token"])], deploy))).toBe(`access to ssh.site.test allowed by policy "ci" (include any-token)`);
  });
});

// Which application's policies decide: the exact hostname's, else the one-label wildcard's.
// A real SQLite store, as the edge uses.
describe("wildcard and exact applications", () => {
  let dir: TempDir;
  let store: Store;
  let tokens: Record<"deploy" | "backup", Subject>;

  beforeAll(async () => {
    dir = await tempDir();
    store = await openStore({ dataDir: dir.path });
    await addZone(store, "site.test");
    await addApp(store, "ssh.site.test");
    await addApp(store, "*.site.test");
    const d = await createServiceToken(store, "deploy");
    const b = await createServiceToken(store, "backup");
    tokens = { deploy: { serviceToken: { id: d.id, name: "deploy" } }, backup: { serviceToken: { id: b.id, name: "backup" } } };
    await addPolicy(store, { app: "ssh.site.test", name: "exact", action: "allow", include: ["token:deploy"] });
    await addPolicy(store, { app: "*.site.test", name: "no deploy", action: "deny", include: ["token:deploy"] });
    await addPolicy(store, { app: "*.site.test", name: "wild", action: "allow", include: ["any-token"] });
  });

  afterAll(async () => {
    await store?.close();
    await dir?.remove();
  });

  type AppCase = [name: string, host: string, who: "deploy" | "backup", app: string | undefined, allowed: boolean, explanation: string];
  const appCases: AppCase[] = [
    ["the exact application decides for its hostname", "ssh.site.test", "deploy", "ssh.site.test", true, `allowed by policy "exact" (include token:deploy)`],
    ["the wildcard's policies do not apply to an exact hostname", "ssh.site.test", "backup", "ssh.site.test", false, `no policy allows service token "backup"`],
    ["another hostname one label under the zone takes the wildcard", "git.site.test", "backup", "*.site.test", true, `allowed by policy "wild" (include any-token)`],
    ["the wildcard's deny comes first", "git.site.test", "deploy", "*.site.test", false, `denied by policy "no deploy" (include token:deploy)`],
    ["the hostname is matched without regard to case or a trailing dot", "SSH.Site.Test.", "deploy", "ssh.site.test", true, `allowed by policy "exact" (include token:deploy)`],
    ["a wildcard covers one label, not two", "a.b.site.test", "backup", undefined, false, "the edge serves no application at a.b.site.test; check the hostname"],
    ["a wildcard does not cover the zone itself", "site.test", "backup", undefined, false, "the edge serves no application at site.test; check the hostname"],
  ];

  test.each(appCases)("%s", async (_name, host, who, app, allowed, explanation) => {
    const r = await decide(store, host, tokens[who]);
    expect({ app: r.app?.hostname, allowed: r.decision.allowed, explanation: r.decision.explanation }).toEqual({ app, allowed, explanation });
  });
});

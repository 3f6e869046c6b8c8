// What an anonymous sign-in may cost, on its own, without an edge: which mailboxes a PIN is
// mailed to (the policies and the zones decide), the caps on pending device codes and OpenID
// Connect starts (oldest out first), PINs, sent or not (oldest out first), and the in-memory
// pace of device-code polls. Clocks are moved by hand; the store is a real one.
import { afterEach, describe, expect, setSystemTime, test } from "bun:test";
import { createPollPace, polled, SLOW_DOWN_STEP_MS, tooEarly } from "../../lib/edge/signin/poll-pace.ts";
import { pinRecipient, recipientOf } from "../../lib/edge/signin/recipients.ts";
import { couldAllow, parseRule, type Policy } from "../../lib/policy/evaluate.ts";
import { addApp, addPolicy, addZone, addZoneAdmins, countRecentPins, createDeviceCode, createPin, findDeviceByCode, saveOidcLogin, verifyPin, takeOidcLogin, type StoredPolicy } from "../../lib/store/index.ts";
import { BACKENDS, withStore } from "../helpers/store.ts";

/** Policies of one application, written as on the command line: `allow everyone -require domain:corp.test`. */
function policies(...lines: string[]): StoredPolicy[] {
  return lines.map((line, position) => {
    const [action, ...words] = line.split(" ");
    const rules: Policy["rules"] = { include: [], exclude: [], require: [] };
    let into: keyof Policy["rules"] = "include";
    for (const w of words) {
      if (w === "-exclude" || w === "-require") into = w.slice(1) as keyof Policy["rules"];
      else rules[into].push(parseRule(w));
    }
    return { id: `pol_${position}`, app: "ssh.corp.test", name: `p${position}`, action: action as "allow" | "deny", position, rules, createdAt: 0 };
  });
}

describe("who a PIN is mailed to", () => {
  const of = (ps: StoredPolicy[], email: string, admin = false) => recipientOf(ps, email, "email", admin);

  test("a mailbox an email: or domain: rule names, or a zone admin's, is named; any other is none", () => {
    const ps = policies("allow email:alice@corp.test domain:ops.test");
    expect([of(ps, "alice@corp.test"), of(ps, "bob@ops.test"), of(ps, "bob@corp.test"), of([], "root@corp.test", true), of([], "root@corp.test")]).toEqual(["named", "named", "none", "named", "none"]);
  });

  test("rules a PIN sign-in can never meet name no one: groups, mfa, service tokens, a deny, an earlier deny of the same mailbox", () => {
    for (const ps of [policies("allow group:eng"), policies("allow domain:corp.test -require mfa"), policies("allow any-token"), policies("deny domain:corp.test"), policies("deny email:bob@corp.test", "allow domain:corp.test")]) {
      expect(of(ps, "bob@corp.test")).toBe("none");
    }
    expect(of(policies("deny email:bob@corp.test", "allow domain:corp.test"), "carol@corp.test")).toBe("named");
  });

  // everyone (and idp: of the e-mail provider, and ip:, which a requester picks) lets in any mailbox at all
  test("everyone, idp:email and ip: rules let in any mailbox: open; narrowed by a require or an exclude, named or none", () => {
    for (const rule of ["everyone", "idp:email", "ip:0.0.0.0/0"]) expect(of(policies(`allow ${rule}`), "anyone@anywhere.test")).toBe("open");
    expect(of(policies("allow idp:corp-sso"), "anyone@anywhere.test")).toBe("none");
    const narrowed = policies("allow everyone -require domain:corp.test");
    expect([of(narrowed, "bob@corp.test"), of(narrowed, "bob@else.test")]).toEqual(["named", "none"]);
    const excluded = policies("allow everyone -exclude email:bob@corp.test");
    expect([of(excluded, "bob@corp.test"), of(excluded, "carol@corp.test")]).toEqual(["none", "open"]);
    // an ip: rule may or may not match: the mailbox could still get in, so it is mailed
    expect(of(policies("deny ip:10.0.0.0/8", "allow domain:corp.test"), "bob@corp.test")).toBe("named");
  });

  test("a mailbox named by one application stays named when another lets in everyone", () => {
    const ps = [...policies("allow email:alice@corp.test"), ...policies("allow everyone").map((p) => ({ ...p, id: "pol_x", app: "open.corp.test" }))];
    expect([of(ps, "alice@corp.test"), of(ps, "bob@corp.test")]).toEqual(["named", "open"]);
  });

  test("couldAllow stops, as a decision does, at a policy with a rule of unknown kind", () => {
    const [unknown] = policies("allow everyone");
    unknown!.rules.include = [{ kind: "quantum" } as unknown as Policy["rules"]["include"][number]];
    expect(couldAllow([unknown!, ...policies("allow everyone").map((p) => ({ ...p, position: 1 }))], { email: "a@b.test", idp: "email", groups: [], amr: ["email"] })).toBe(false);
  });

  for (const backend of BACKENDS) {
    test(`the store's policies and zone admins decide (${backend})`, () =>
      withStore(backend, async (store) => {
        await addZone(store, "corp.test");
        await addApp(store, "ssh.corp.test");
        expect(await pinRecipient(store, "bob@corp.test", "email")).toBe("none");
        await addPolicy(store, { app: "ssh.corp.test", name: "people", action: "allow", include: ["domain:corp.test"] });
        await addZoneAdmins(store, "corp.test", ["root@ops.test"]);
        expect(await Promise.all(["bob@corp.test", "root@ops.test", "bob@ops.test"].map((e) => pinRecipient(store, e, "email")))).toEqual(["named", "named", "none"]);
      }));
  }
});

describe("what the store keeps for anyone who asks", () => {
  // each row a millisecond after the last, so that "oldest" is one answer
  const at = (i: number) => setSystemTime(new Date(Date.UTC(2030, 0, 1) + i));
  afterEach(() => setSystemTime());
  for (const backend of BACKENDS) {
    // Failed before: every code was kept until it expired, as many as were asked for.
    test(`pending device codes are capped, the oldest pushed out first (${backend})`, () =>
      withStore(backend, async (store) => {
        const start = (i: number) => createDeviceCode(store, { purpose: "tunnel", clientIp: `10.0.0.${i}`, lifetimeMs: 600_000, intervalMs: 5_000, maxPending: 5 });
        const codes = [];
        for (let i = 0; i < 8; i++) {
          at(i);
          codes.push(await start(i));
        }
        const kept = await Promise.all(codes.map(async (c) => (await findDeviceByCode(store, c.deviceCode)) !== undefined));
        expect(kept).toEqual([false, false, false, true, true, true, true, true]);
      }));

    // Failed before: PINs were kept a day past their expiry, as many as were asked for.
    test(`PINs, mailed or not, are capped, the oldest pushed out first, and answer as an unknown id then (${backend})`, () =>
      withStore(backend, async (store) => {
        const pins = [];
        for (let i = 0; i < 6; i++) {
          at(i);
          pins.push(await createPin(store, "x@corp.test", "browser", 600_000, 4));
        }
        const answers = [];
        for (const p of pins) answers.push(await verifyPin(store, p.id, "22222222", "browser"));
        expect(answers.map((a) => (a.ok ? "signed in" : a.why))).toEqual(["unknown", "unknown", "wrong", "wrong", "wrong", "wrong"]);
        expect(await countRecentPins(store, "x@corp.test", 0)).toBe(4);
      }));

    test(`OpenID Connect sign-ins in progress are capped, the oldest pushed out first (${backend})`, () =>
      withStore(backend, async (store) => {
        const login = { idp: "corp", nonce: "n", codeVerifier: "v", returnTo: "/" };
        for (let i = 0; i < 6; i++) {
          at(i);
          await saveOidcLogin(store, `state-${i}`, "browser", login, 600_000, 4);
        }
        const taken = [];
        for (let i = 0; i < 6; i++) taken.push((await takeOidcLogin(store, `state-${i}`, "browser")) !== undefined);
        expect(taken).toEqual([false, false, true, true, true, true]);
      }));
  }
});

describe("the pace of device-code polls", () => {
  test("a first poll and one on time pass; an early one is refused with the interval raised a step, kept for later polls; slack for timers", () => {
    const clock = { t: 0 };
    const p = createPollPace({ now: () => clock.t });
    expect(tooEarly(p, "code")).toBeUndefined(); // never polled
    polled(p, "code", 5_000);
    clock.t += 4_000; // within the 20% slack of 5 s
    expect(tooEarly(p, "code")).toBeUndefined();
    polled(p, "code", 5_000);
    clock.t += 100;
    expect(tooEarly(p, "code")).toBe(5_000 + SLOW_DOWN_STEP_MS);
    expect(tooEarly(p, "code")).toBe(5_000 + 2 * SLOW_DOWN_STEP_MS); // each early poll adds a step
    clock.t += 11_999;
    expect(tooEarly(p, "code")).toBe(5_000 + 3 * SLOW_DOWN_STEP_MS); // 15 s asked: not yet 80% of it
    clock.t += 16_000;
    expect(tooEarly(p, "code")).toBeUndefined();
  });

  test("tracks at most its bound, forgetting the least recently polled", () => {
    const p = createPollPace({ now: () => 0, max: 3 });
    for (const k of ["a", "b", "c", "d"]) polled(p, k, 5_000);
    expect([...p.codes.keys()]).toEqual(["b", "c", "d"]);
  });
});

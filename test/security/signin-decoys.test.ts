// Telling a mailbox a policy names from one it does not, by the PIN pages alone: a PIN for a
// mailbox nothing lets in is made and kept as any other, and mailed to nobody, so after a
// flood, on another node of the cluster, and while the edge-wide bound on open mail is spent,
// it answers as a real one does. Each runs against the real edge; the cluster test needs
// WICKET_TEST_POSTGRES_URL.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { client, people, pinEdge, pinFromLog, pinIdIn, type Answer } from "../helpers/signin.ts";
import { PG, tempDatabase } from "../helpers/store.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge } from "../helpers/wicket.ts";
import * as pins from "../../lib/store/sign-in-starts.ts";
import { SIGN_IN_LIMITS } from "../../lib/edge/signin/rate-limit.ts";

const alert = (a: Answer) => /role="alert">([^<]*)</.exec(a.text)?.[1];
/** A page with its mailbox and PIN id blanked out: what two answers must share. */
const shape = (a: Answer, email: string) => [a.status, a.text.replaceAll(email, "EMAIL").replace(/name="pin_id" value="wkp_[^"]+"/, 'name="pin_id" value="ID"').replace(/name="csrf" value="[^"]+"/, 'name="csrf" value="CSRF"')];
let n = 0;
/** A fresh client address each call: the tests keep out of each other's per-address shares. */
const nextIp = () => (n++, `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`);

describe("a PIN for a mailbox no policy names", () => {
  // Failed before: a decoy cost no store read or write, a real PIN a write (5.0 ms against 1.1).
  test("costs the store what a real one does: a row of the same kind for each, one mail", async () => {
    await using d = await tempDir("wicket-decoy-rows-");
    await using e = await pinEdge(d, "rows");
    await people(e, "site.test");
    const c = await client(e, nextIp());
    const decoy = await c.askPin("nobody@elsewhere.test");
    const real = await c.askPin("somebody@site.test");
    expect(shape(decoy, "nobody@elsewhere.test")).toEqual(shape(real, "somebody@site.test"));
    await pinFromLog(e, "somebody@site.test");
    const db = new Database(`${e.dataDir}/wicket.db`, { readonly: true });
    const rows = db.query("SELECT id, email, attempts, length(pin_hash) AS hash, length(browser_hash) AS browser, expires_at - created_at AS lifetime, used_at FROM pins ORDER BY created_at").all();
    db.close();
    expect(rows).toEqual([
      { id: pinIdIn(decoy.text)!, email: "nobody@elsewhere.test", attempts: 0, hash: 64, browser: 64, lifetime: 600_000, used_at: null },
      { id: pinIdIn(real.text)!, email: "somebody@site.test", attempts: 0, hash: 64, browser: 64, lifetime: 600_000, used_at: null },
    ]);
    expect(e.proc.stderr()).not.toContain("the PIN for nobody@elsewhere.test");
  }, 60_000);

  // Failed before: 10,000 decoys were held in memory; past that the oldest answered "not valid"
  // while a real PIN of the same age still answered "wrong; 4 tries left".
  const FLOOD = 10_000; // as many as the edge keeps (MAX_PINS; before, the decoys it held)
  test(`after a flood of ${FLOOD} more, answers a guess as a real PIN of its age does`, async () => {
    await using d = await tempDir("wicket-decoy-flood-");
    await using e = await pinEdge(d, "flood");
    await people(e, "site.test");
    const victim = await client(e, nextIp());
    const decoy = pinIdIn((await victim.askPin("target@elsewhere.test")).text)!;
    const real = pinIdIn((await victim.askPin("target@site.test")).text)!;
    const share = SIGN_IN_LIMITS.pin_request.perAddress.capacity;
    const flood = async (k: number) => {
      const c = await client(e, nextIp());
      for (let j = 0; j < share; j++) expect((await c.askPin(`x${k}-${j}@elsewhere.test`)).status).toBe(200);
    };
    for (let k = 0; k < FLOOD / share; k += 20) await Promise.all(Array.from({ length: 20 }, (_, i) => flood(k + i)));
    const answers = [alert(await victim.guess(decoy, "23456789")), alert(await victim.guess(real, "23456789"))];
    expect(answers[0]).toBe(answers[1]!);
    expect(pins.MAX_PINS).toBeLessThanOrEqual(FLOOD);
  }, 300_000);
});

describe.skipIf(!PG)("a PIN for a mailbox no policy names, on two edge nodes with one PostgreSQL store", () => {
  // Failed before: decoys lived on the node that made them; at the other a guess answered "not
  // valid", and each node counted a mailbox's five decoys on its own.
  test("is guessed at the other node as a real PIN is, and a mailbox's five are counted across the nodes", async () => {
    await using db = await tempDatabase();
    await using dirA = await tempDir("wicket-decoy-a-");
    await using dirB = await tempDir("wicket-decoy-b-");
    const node = (dir: TempDir) => {
      writeFileSync(dir.join("edge.yaml"), "dev: true\ntrusted-proxies: 127.0.0.1\n");
      return startEdge({ dir, extra: ["--config", dir.join("edge.yaml"), "--database", db.url] });
    };
    await using a = await node(dirA);
    mkdirSync(dirB.join("edge"), { recursive: true, mode: 0o700 });
    for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(a.dataDir, f), join(dirB.join("edge"), f));
    await using b = await node(dirB);
    await people(a, "site.test");

    const atA = await client(a, nextIp());
    const ids = [pinIdIn((await atA.askPin("nobody@elsewhere.test")).text)!, pinIdIn((await atA.askPin("somebody@site.test")).text)!];
    const atB = await client(b, nextIp());
    const guesses = [];
    for (const id of ids) guesses.push(alert(await atB.guess(id, "23456789")));
    // another browser's guess is a wrong one, for a real PIN as for any
    expect(guesses).toEqual(["That PIN is wrong; 4 tries left.", "That PIN is wrong; 4 tries left."]);

    const fifth = [];
    for (const email of ["nobody@elsewhere.test", "somebody@site.test"]) {
      // one asked at A above; three more at A, one at B: the five; then one more at B
      for (let i = 0; i < 3; i++) expect(pinIdIn((await (await client(a, nextIp())).askPin(email)).text)).toBeDefined();
      const c = await client(b, nextIp());
      expect(pinIdIn((await c.askPin(email)).text)).toBeDefined();
      fifth.push(shape(await c.askPin(email), email));
    }
    expect(fifth[0]).toEqual(fifth[1]!);
    expect(fifth[0]![1]).toContain("Too many PINs were sent to EMAIL");
  }, 120_000);
});

describe("the edge-wide bound on mail to mailboxes any policy lets in", () => {
  // Failed before: while it was spent, only a mailbox an everyone-like rule let in was refused
  // ("Too many PINs were asked for on this edge"), which told it from a mailbox a rule names.
  test("once spent, answers a mailbox only `everyone` lets in as it answers one a rule names, and mails it nothing", async () => {
    await using d = await tempDir("wicket-open-mail-");
    await using e = await pinEdge(d, "open");
    await people(e, "site.test");
    await e.admin(["app", "add", "open.site.test"]);
    await e.admin(["policy", "add", "open.site.test", "--name", "anyone", "--action", "allow", "--include", "everyone"]);
    const share = SIGN_IN_LIMITS.pin_request.perAddress.capacity;
    const spend = Math.ceil((SIGN_IN_LIMITS.open_mail.global.capacity * 1.3) / share);
    await Promise.all(
      Array.from({ length: spend }, async (_, k) => {
        const c = await client(e, nextIp());
        for (let j = 0; j < share; j++) await c.askPin(`o${k}-${j}@anywhere.test`);
      }),
    );
    const c = await client(e, nextIp());
    const [open, named] = await Promise.all([c.askPin("late@anywhere.test"), c.askPin("late@site.test")]);
    expect(shape(open, "late@anywhere.test")).toEqual(shape(named, "late@site.test"));
    await pinFromLog(e, "late@site.test");
    expect(e.proc.stderr()).toContain("no sign-in PIN sent to o");
  }, 120_000);
});

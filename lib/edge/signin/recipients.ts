// Who a PIN may be mailed to: a mailbox that some application's policy could let in, or that
// administers a zone. A PIN for any other mailbox signs in a person no page would let anywhere,
// so it is not mailed: it is made and kept all the same, and told to nobody, so the pages, the
// store and every node answer for it as for one that was (lib/edge/signin/routes.ts `sendPin`).
//
// A PIN sign-in carries a mailbox, the e-mail provider's name, no groups and one factor. So
// `email:` and `domain:` rules name mailboxes; `group:`, `mfa` and service-token rules never
// let one in; `everyone`, `idp:<the e-mail provider>` and `ip:` rules (the address is the one
// the device flow started from, anyone's) let in any mailbox at all: with one of those in an
// allow policy, every mailbox may get a PIN, and only the edge-wide `open_mail` bucket bounds
// the mail that no narrower rule names (past it, such a PIN is made but not mailed).
import { couldAllow, type PartialSubject } from "../../policy/evaluate.ts";
import { administersByEmail, listPolicies, type StoredPolicy, type Store } from "../../store/index.ts";

/** `named`: a policy or a zone names this mailbox (or its domain); `open`: only a rule that lets in anyone does; `none`: nothing does. */
export type Recipient = "named" | "open" | "none";

/** The policies of each application, as `couldAllow` takes them. */
function byApp(policies: readonly StoredPolicy[]): StoredPolicy[][] {
  const apps = new Map<string, StoredPolicy[]>();
  for (const p of policies) {
    const list = apps.get(p.app);
    if (list) list.push(p);
    else apps.set(p.app, [p]);
  }
  return [...apps.values()];
}

/** Pure: what the policies and the zone admins say of a PIN sign-in by `email` with the provider `idp`. */
export function recipientOf(policies: readonly StoredPolicy[], email: string, idp: string, zoneAdmin: boolean): Recipient {
  if (zoneAdmin) return "named";
  const person: PartialSubject = { email, idp, groups: [], amr: ["email"] };
  let open = false;
  for (const app of byApp(policies)) {
    if (!couldAllow(app, person)) continue;
    // an application that lets this mailbox in, but would let any mailbox in as well, does not name it
    if (!couldAllow(app, { ...person, anyMailbox: true })) return "named";
    open = true;
  }
  return open ? "open" : "none";
}

/** What the store says of a PIN sign-in by `email`: reads only. */
export async function pinRecipient(store: Store, email: string, idp: string): Promise<Recipient> {
  const [policies, admin] = await Promise.all([listPolicies(store), administersByEmail(store, email)]);
  return recipientOf(policies, email, idp, admin);
}

// One-time PINs by e-mail: the embedded identity provider. The PIN goes out over SMTP
// (nodemailer); on a `--dev` edge with no SMTP configured it is written to the edge's log
// instead, so a demo needs no mail server.
import nodemailer from "nodemailer";
import { log } from "../cli/log.ts";
import { isMailDomain } from "../net/dns-name.ts";

/** Where PINs are sent from, as the edge's config file says (lib/edge/config/file.ts reads it). */
export type SmtpSettings = { host: string; port: number; secure: boolean; user?: string; password?: string; from: string; caPem?: string };

export type PinMailer = (to: string, pin: string, minutes: number) => Promise<void>;

/** A mailbox a PIN may go to, as the edge will record it: one plain address, nothing a mail
 * library would read as a name, a comment or a second recipient (`a<b@c>`, `b@c(x)`, `a,b@c`),
 * which would send the PIN elsewhere than the identity it signs in. */
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Whether `email` (lower-cased) is such an address, its domain a DNS name (lib/net/dns-name.ts);
 * the length is checked before any pattern. */
export function isMailbox(email: string): boolean {
  const at = email.lastIndexOf("@");
  return email.length <= 254 && at > 0 && LOCAL_PART.test(email.slice(0, at)) && isMailDomain(email.slice(at + 1));
}

/** Undefined when PINs cannot be delivered at all (no SMTP, not --dev). */
export function pinMailer(smtp: SmtpSettings | undefined, dev: boolean, edgeName: () => string): PinMailer | undefined {
  if (!smtp) {
    if (!dev) return undefined;
    return async (to, pin, minutes) => {
      log.warn(`dev mode, no SMTP: the PIN for ${to} is ${pin} (valid ${minutes} minutes)`);
    };
  }
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password } } : {}),
    ...(smtp.caPem ? { tls: { ca: smtp.caPem } } : {}),
  });
  return async (to, pin, minutes) => {
    const text = `Your PIN to sign in to ${edgeName()} is ${pin}.\n\nIt works once, for ${minutes} minutes. If you did not ask for it, ignore this mail.\n`;
    // the envelope names the one recipient outright: nothing in `to` is parsed for more
    await transport.sendMail({ from: smtp.from, to: { name: "", address: to }, envelope: { from: smtp.from, to: [to] }, subject: `Your sign-in PIN: ${pin}`, text });
    log.info(`sign-in PIN sent to ${to}`);
  };
}

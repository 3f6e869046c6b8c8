// One-time PINs by e-mail: the embedded identity provider. The PIN goes out over SMTP
// (nodemailer); on a `--dev` edge with no SMTP configured it is written to the edge's log
// instead, so a demo needs no mail server.
import nodemailer from "nodemailer";
import { log } from "../cli/log.ts";
import type { SmtpSettings } from "../edge/config.ts";

export type PinMailer = (to: string, pin: string, minutes: number) => Promise<void>;

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
    await transport.sendMail({ from: smtp.from, to, subject: `Your sign-in PIN: ${pin}`, text });
    log.info(`sign-in PIN sent to ${to}`);
  };
}

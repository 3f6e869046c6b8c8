// A real SMTP server for tests (`smtp-server`, 127.0.0.1 port 0, no TLS, no auth) that parses
// every mail it receives (`mailparser`) and hands them out in order.
import { SMTPServer } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";

export interface TestSmtp extends AsyncDisposable {
  port: number;
  /** The next mail to arrive (or the oldest not yet taken). */
  nextMail(timeoutMs?: number): Promise<ParsedMail>;
  stop(): Promise<void>;
}

export async function startSmtp(): Promise<TestSmtp> {
  const inbox: ParsedMail[] = [];
  const waiting: ((m: ParsedMail) => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then(
        (mail) => {
          const w = waiting.shift();
          if (w) w(mail);
          else inbox.push(mail);
          callback();
        },
        (err) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    port,
    nextMail(timeoutMs = 10_000) {
      const m = inbox.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no mail arrived within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((mail) => {
          clearTimeout(t);
          resolve(mail);
        });
      });
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

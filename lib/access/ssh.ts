// `access ssh`: the ProxyCommand. stdin/stdout are the SSH byte stream; nothing else may
// touch stdout.
import { dialApp, type DialOptions } from "./dial.ts";
import { dialSignedIn, type SignInMode } from "./connect.ts";
import { connectBridge } from "./resume.ts";

export async function proxyStdio(opts: DialOptions, signIn: SignInMode): Promise<void> {
  const dial = (d: DialOptions) => {
    const o = { ...d, resumable: true };
    return o.serviceToken ? dialApp(o) : dialSignedIn(o, signIn);
  };
  const ws = await dial(opts);
  const stdout = process.stdout;
  const b = connectBridge(
    ws,
    {
      write: (bytes) => stdout.write(bytes),
      end: () => stdout.end(),
    },
    opts.hostname,
    (resumeTicket) => dial({ ...opts, resumeTicket }),
  );
  stdout.on("drain", b.drained);
  stdout.on("error", () => b.close()); // ssh went away
  const stdin = Bun.stdin.stream().getReader();
  const pump = (async () => {
    for (;;) {
      const { done, value } = await stdin.read();
      if (done) break;
      if (!b.send(value)) await b.room();
    }
    b.end();
  })();
  pump.catch(() => b.close());
  try {
    await b.done;
  } finally {
    // The edge ended the connection (a normal end, or a revocation): stop reading stdin so the
    // process exits now, not when ssh gets round to closing our stdin.
    stdin.cancel().catch(() => {});
  }
}


// `access ssh`: the ProxyCommand. stdin/stdout are the SSH byte stream; nothing else may
// touch stdout.
import { bridge, dialApp, type DialOptions } from "./dial.ts";
import { dialSignedIn, type SignInMode } from "./connect.ts";

export async function proxyStdio(opts: DialOptions, signIn: SignInMode): Promise<void> {
  const ws = opts.serviceToken ? await dialApp(opts) : await dialSignedIn(opts, signIn);
  const stdout = process.stdout;
  const b = bridge(
    ws,
    {
      write: (bytes) => stdout.write(bytes),
      end: () => stdout.end(),
    },
    opts.hostname,
  );
  stdout.on("drain", b.drained);
  stdout.on("error", () => b.close()); // ssh went away
  const pump = (async () => {
    for await (const chunk of Bun.stdin.stream()) await b.send(chunk);
    b.end();
  })();
  pump.catch(() => b.close());
  await b.done;
}


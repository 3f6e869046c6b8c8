// Correctness under the fast paths: 1 GiB each way through `wicket access tcp`, an edge and a
// connector arrives byte for byte. Both ends hash what they sent and what they received
// (sha256, streamed: nothing holds the whole GiB) and the hashes are compared. The origin runs
// in its own process (test/helpers/origin.ts), fresh random bytes every chunk.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { download, upload } from "./helpers/origin.ts";
import { spawnProc, type Proc } from "./helpers/proc.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, type TestEdge } from "./helpers/wicket.ts";

const HOST = "bulk.site.test";
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const ORIGIN = new URL("./helpers/origin.ts", import.meta.url).pathname;

let dir: TempDir;
let origin: Proc;
let edge: TestEdge;
let localPort: number;

beforeAll(async () => {
  dir = await tempDir("wicket-bulk-");
  origin = spawnProc([process.execPath, ORIGIN, "serve"], { name: "origin" });
  const [, port] = await origin.waitForLine(/origin listening on 127\.0\.0\.1 port (\d+)/, { stream: "stdout" });
  edge = await startEdge({ dir });
  const token = await edge.app(HOST);
  await edge.tunnel(HOST, `tcp://127.0.0.1:${port}`);
  localPort = (await edge.accessTcp(HOST, token)).port;
});

afterAll(async () => {
  await edge?.[Symbol.asyncDispose]();
  if (origin) expect(await origin.stop()).toBe(0);
  await dir?.[Symbol.asyncDispose]();
});

test("1 GiB sent through access tcp reaches the origin byte-identical (sha256 on both ends)", async () => {
  const r = await upload(localPort, GiB, { hash: true }); // rejects unless the origin counted exactly 1 GiB
  expect(r.sentSha256).toMatch(/^[0-9a-f]{64}$/);
  expect(r.receivedSha256).toBe(r.sentSha256!);
});

test("1 GiB from the origin through access tcp arrives byte-identical (sha256 on both ends)", async () => {
  const r = await download(localPort, GiB, { hash: true }); // rejects unless exactly 1 GiB and the hash arrived
  expect(r.sentSha256).toMatch(/^[0-9a-f]{64}$/);
  expect(r.receivedSha256).toBe(r.sentSha256!);
});

// `access tcp` ends the local socket only once the bytes queued for it have gone: a reader
// that falls behind still gets the tail of a download.
test("a local reader that falls behind still gets every byte of a download through access tcp", async () => {
  const r = await download(localPort, 64 * MiB, { hash: true, slowReader: { everyBytes: MiB, pauseMs: 10 } });
  expect(r.receivedSha256).toBe(r.sentSha256!);
});

// The connector's writes to an origin that falls behind come back short; the part written
// must still return its credit, or every short write shrinks the stream's window until the
// upload stalls (it did: 8 MiB leaked in a few dozen short writes, then nothing moved).
test("an upload to an origin that falls behind gets every byte there", async () => {
  const r = await upload(localPort, 64 * MiB, { slowSink: true });
  expect(r.receivedSha256).toBe(r.sentSha256!);
});

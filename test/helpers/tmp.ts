// Temporary directories for tests, removed when disposed (`await using dir = await tempDir()`).
// WICKET_TEST_KEEP=1 keeps them, and says where, for a look after a failure.
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir extends AsyncDisposable {
  readonly path: string;
  /** A path inside the directory. */
  join(...parts: string[]): string;
  remove(): Promise<void>;
}

export async function tempDir(prefix = "wicket-test-"): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  const remove = async () => {
    if (process.env.WICKET_TEST_KEEP) {
      console.error(`kept ${path}`);
      return;
    }
    await rm(path, { recursive: true, force: true });
  };
  return {
    path,
    join: (...parts) => join(path, ...parts),
    remove,
    [Symbol.asyncDispose]: remove,
  };
}

/** Writes `mib` MiB of random bytes to `path`; resolves with their SHA-256 (hex). */
export async function randomFile(path: string, mib: number): Promise<string> {
  const f = await open(path, "w");
  const hash = new Bun.CryptoHasher("sha256");
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) {
    for (let o = 0; o < chunk.byteLength; o += 65536) crypto.getRandomValues(chunk.subarray(o, o + 65536));
    hash.update(chunk);
    await f.write(chunk);
  }
  await f.close();
  return hash.digest("hex");
}

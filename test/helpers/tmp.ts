// Temporary directories for tests, removed when disposed (`await using dir = await tempDir()`).
// WICKET_TEST_KEEP=1 keeps them, and says where, for a look after a failure.
import { mkdtemp, rm } from "node:fs/promises";
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

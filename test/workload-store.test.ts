// Workload ID tokens accepted once (lib/store/workload-tokens.ts), in the store every node of
// a cluster shares: a second use is a replay, a row lives until its token expires, and past
// the cap nothing is taken (rather than a row forgotten early, which would let a token in twice).
import { describe, expect, test } from "bun:test";
import { consumeWorkloadToken } from "../lib/store/index.ts";
import { BACKENDS, withStore } from "./helpers/store.ts";

describe.each(BACKENDS)("workload tokens seen (%s)", (backend) => {
  test("a token is taken once, and again by no one until it expires", () =>
    withStore(backend, async (store) => {
      const exp = Date.now() + 60_000;
      expect(await consumeWorkloadToken(store, "h1", "github", exp)).toBe("ok");
      expect(await consumeWorkloadToken(store, "h1", "github", exp)).toBe("replayed");
      expect(await consumeWorkloadToken(store, "h2", "github", exp)).toBe("ok");
    }));

  test("rows of expired tokens go; past the cap no new token is taken, a replay is still one", () =>
    withStore(backend, async (store) => {
      const live = Date.now() + 60_000;
      await store.sql`INSERT INTO workload_tokens_seen (token_hash, issuer, expires_at) VALUES (${"old"}, ${"github"}, ${Date.now() - 1})`;
      for (const h of ["a", "b", "c"]) expect(await consumeWorkloadToken(store, h, "github", live, 3)).toBe("ok");
      const [{ n }] = (await store.sql`SELECT COUNT(*) AS n FROM workload_tokens_seen`) as { n: number }[];
      expect(Number(n)).toBe(3);
      expect(await consumeWorkloadToken(store, "d", "github", live, 3)).toBe("full");
      expect(await consumeWorkloadToken(store, "a", "github", live, 4)).toBe("replayed");
    }));
});

import { expect, test } from "bun:test";
import { randomSecret } from "../lib/auth/secret.ts";

test("a secret never starts with '-', so `--secret VALUE` is never read as flags", () => {
  // without the rule, one secret in 64 would: 4000 draws all pass by chance with p < 1e-27
  const secrets = Array.from({ length: 4000 }, () => randomSecret());
  expect(secrets.filter((s) => s.startsWith("-"))).toEqual([]);
  expect(new Set(secrets).size).toBe(4000);
  expect(secrets.every((s) => /^[A-Za-z0-9_-]{43}$/.test(s))).toBe(true);
});

// Flags that may be given more than once. citty 0.2 keeps only the last value of a repeated
// string flag, so the values are read from the raw arguments.

/** Every value of `--name V` / `--name=V` in `rawArgs` (up to `--`), else what citty parsed. */
export function repeatedFlag(rawArgs: readonly string[], name: string, parsed?: unknown): string[] {
  const values: string[] = [];
  const flag = `--${name}`;
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (a === flag && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (a.startsWith(flag + "=")) values.push(a.slice(flag.length + 1));
  }
  if (values.length > 0) return values.filter((v) => v !== "");
  if (parsed === undefined || parsed === null || parsed === false) return [];
  return (Array.isArray(parsed) ? parsed : [parsed]).map(String).filter((v) => v !== "");
}

/** Whether `--name` appears at all in `rawArgs` (up to `--`), even with an empty value. */
export function flagGiven(rawArgs: readonly string[], name: string): boolean {
  const flag = `--${name}`;
  for (const a of rawArgs) {
    if (a === "--") return false;
    if (a === flag || a.startsWith(flag + "=")) return true;
  }
  return false;
}

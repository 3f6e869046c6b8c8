// The shape lib/ promises its readers (issue 25), checked on every test run so it cannot drift:
// no function over MAX_FUNCTION lines, no file over MAX_FILE lines (the migration list excepted:
// it only grows, one entry per release), nothing directly in lib/edge/ but server.ts (its
// rooms live in folders by concern), and no `any` or `as unknown as`, except a reach into a
// library's internals, which says so on the line before with `// internals: <why>`.
// Parsed with oxc-parser (a real TypeScript parser) rather than by counting braces.
import { parseSync } from "oxc-parser";
import { Glob } from "bun";
import { relative } from "node:path";

const MAX_FUNCTION = 120;
const MAX_FILE = 400;
const LONG_FILES_ALLOWED = new Set(["lib/store/migrations.ts"]);
const EDGE_TOP_LEVEL = new Set(["lib/edge/server.ts", "lib/edge/index.ts"]);
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

type Node = { type: string; start: number; end: number; [key: string]: unknown };

function isNode(v: unknown): v is Node {
  return typeof v === "object" && v !== null && typeof (v as { type?: unknown }).type === "string";
}

function walk(node: unknown, visit: (n: Node) => void): void {
  if (!isNode(node)) return;
  visit(node);
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) for (const v of value) walk(v, visit);
    else walk(value, visit);
  }
}

/** What is wrong with one file's text, as `path:line: sentence` lines. */
export function checkFile(path: string, text: string): string[] {
  const problems: string[] = [];
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1);
  const lineOf = (offset: number) => {
    let lo = 0, hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  };
  const lines = text.split("\n");
  // `// internals: why` on the line itself or in the comment block just above it
  const excused = (line: number) => {
    if (/\/\/ internals: \S/.test(lines[line - 1] ?? "")) return true;
    for (let i = line - 2; i >= 0 && /^\s*\/\//.test(lines[i]!); i--) if (/\/\/ internals: \S/.test(lines[i]!)) return true;
    return false;
  };

  const lineCount = text.endsWith("\n") ? lines.length - 1 : lines.length;
  if (lineCount > MAX_FILE && !LONG_FILES_ALLOWED.has(path)) problems.push(`${path}:1: ${lineCount} lines, over ${MAX_FILE}: split it by concern`);
  if (path.startsWith("lib/edge/") && path.split("/").length === 3 && !EDGE_TOP_LEVEL.has(path)) {
    problems.push(`${path}:1: lib/edge/ holds only server.ts; put this module in the folder of its concern`);
  }

  const { program, errors } = parseSync(path, text);
  if (errors.length > 0) return [...problems, `${path}:1: does not parse: ${errors[0]!.message}`];
  walk(program, (n) => {
    if (FUNCTIONS.has(n.type)) {
      const from = lineOf(n.start), to = lineOf(n.end);
      if (to - from + 1 > MAX_FUNCTION) problems.push(`${path}:${from}: a function of ${to - from + 1} lines, over ${MAX_FUNCTION}: give its parts names`);
    } else if (n.type === "TSAnyKeyword" && !excused(lineOf(n.start))) {
      problems.push(`${path}:${lineOf(n.start)}: \`any\`: name the type (or say \`// internals: why\` on the line before)`);
    } else if (n.type === "TSAsExpression" && isNode(n.expression) && n.expression.type === "TSAsExpression"
      && isNode(n.expression.typeAnnotation) && n.expression.typeAnnotation.type === "TSUnknownKeyword" && !excused(lineOf(n.start))) {
      problems.push(`${path}:${lineOf(n.start)}: \`as unknown as\`: check the value instead (or say \`// internals: why\` on the line before)`);
    }
  });
  return problems;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  const problems: string[] = [];
  for await (const file of new Glob("lib/**/*.ts").scan({ cwd: root })) {
    if (file.endsWith(".d.ts")) continue;
    problems.push(...checkFile(relative(".", file), await Bun.file(`${root}/${file}`).text()));
  }
  if (problems.length > 0) {
    console.error(problems.sort().join("\n"));
    console.error(`check-shape: ${problems.length} problem(s) in lib/ (scripts/check-shape.ts says why each rule exists)`);
    process.exit(1);
  }
  console.error("check-shape: lib/ is in shape");
}

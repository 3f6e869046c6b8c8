// axe-core in the page, as the console and page tests check it: serious and critical
// violations only, each as one line that names the rule and where it failed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "bun:test";
import type { Page } from "playwright-core";

const AXE = readFileSync(join(import.meta.dir, "..", "..", "node_modules", "axe-core", "axe.min.js"), "utf8");

export async function axe(page: Page): Promise<string[]> {
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(AXE);
  const found = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })))")) as {
    id: string;
    impact: string;
    help: string;
    nodes: string[];
  }[];
  return found.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(", ")}`);
}

/** axe-clean in light and dark, one h1, fits 320 px; a screenshot at 1280 px of each into `shotsDir`, if one is given. */
export async function checkPage(page: Page, name: string, shotsDir?: string) {
  expect(await page.locator("h1").count()).toBe(1);
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    expect({ name, colorScheme, violations: await axe(page) }).toEqual({ name, colorScheme, violations: [] });
    await page.setViewportSize({ width: 320, height: 800 });
    expect({ name, colorScheme, scrollWidth: await page.evaluate("document.documentElement.scrollWidth") }).toEqual({ name, colorScheme, scrollWidth: 320 });
    await page.setViewportSize({ width: 1280, height: 800 });
    if (shotsDir) await page.screenshot({ path: join(shotsDir, `${name}-1280-${colorScheme}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

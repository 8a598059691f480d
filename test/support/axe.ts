/** axe-core in a Playwright page: WCAG 2.x A/AA rules on the page as it stands. */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The violations as "rule: selectors" lines (expect it to equal []). */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    (
      window as unknown as {
        axe: {
          run(o: object): Promise<{
            passes: unknown[];
            violations: Array<{ id: string; nodes: Array<{ target: string[] }> }>;
          }>;
        };
      }
    ).axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  );
  expect(result.passes.length).toBeGreaterThan(0); // the rules ran on this page
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * A real headless Chromium for the browser tests: Debian's `chromium`
 * package driven by playwright-core (no browser download). Where it is not
 * installed the tests skip loudly, except under CI=true, where they fail:
 * .ci/install-chromium.sh installs it there.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Screenshots and other artifacts of the browser tests (gitignored). This file runs as dist/test/dashboard/browser.js. */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

/** Bound on any one wait for the page; generous because the machine is shared, and never a pass criterion. */
export const PAGE_WAIT_MS = 30_000;

/** A browser for this test, closed after it; undefined (and the test skipped) when Chromium is missing outside CI. */
export async function launchBrowser(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM_PATH)) {
    const message = `Chromium not found at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
    if (process.env.CI === 'true') throw new Error(`${message}; CI must install it (.ci/install-chromium.sh)`);
    process.stderr.write(`\n!!! SKIPPED browser test "${t.name}": ${message}\n\n`);
    t.skip(message);
    return undefined;
  }
  // Chromium's sandbox needs user namespaces, which containers (and root) often lack; the pages are our own.
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, chromiumSandbox: false, timeout: PAGE_WAIT_MS });
  t.after(() => browser.close());
  return browser;
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}

/** Text of each element id, read in the page (trimmed; `(missing)` for an id the page lacks). */
export async function texts(page: Page, ids: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const id of ids) {
    const locator = page.locator(`#${id}`);
    out[id] = (await locator.count()) === 0 ? '(missing)' : ((await locator.textContent()) ?? '').trim();
  }
  return out;
}

/**
 * Waits until the elements show exactly `expected` (by id), polling. On
 * timeout the error shows what the page showed instead.
 */
export async function waitForTexts(page: Page, expected: Record<string, string>): Promise<void> {
  const ids = Object.keys(expected);
  const deadline = Date.now() + PAGE_WAIT_MS;
  let shown: Record<string, string> = {};
  for (;;) {
    shown = await texts(page, ids);
    if (ids.every((id) => shown[id] === expected[id])) return;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the page did not show ${JSON.stringify(expected)}; it shows ${JSON.stringify(shown)}`);
}

import { chromium, type Browser, type Page } from 'playwright-core';
import { inject } from 'vitest';

/** Flags that keep a headless Chromium quiet on a machine with no outside network. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A launched test browser and the function that closes it and removes its profile. */
export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Launches the Chromium found by test/globalSetup.ts. Playwright gives every launch a fresh,
 * temporary profile directory (it refuses `--user-data-dir` in `args`) and removes it on close.
 */
export async function launchTestBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: inject('chromePath'),
    args: chromiumArgs,
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

/**
 * Signs a page in as a human does: opens a one-time sign-in link (which by itself spends
 * nothing), presses **Sign in**, and waits for the page the link's `next` names (default `/`).
 */
export async function signInWithLink(page: Page, loginUrl: string): Promise<void> {
  const next = new URL(loginUrl).searchParams.get('next') ?? '/';
  const expected = new URL(next, loginUrl).pathname;
  await page.goto(loginUrl);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname === expected);
}

import { chromium, type Browser } from 'playwright-core';
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
  const browser = await chromium.launch({ executablePath: inject('chromePath'), args: chromiumArgs });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

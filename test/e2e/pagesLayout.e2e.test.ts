import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer } from '../../src/cli/startServer.js';
import { generateTotpCode } from '../../src/gates/totpCode.js';
import { webRoot } from '../../src/http/staticPages.js';
import { createLoginUrl } from '../../src/service/operatorAuth.js';
import { startLocalServer, type LocalServer } from '../support/localServer.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';

/**
 * The inbox and the approval page as a person reads them on a 390 px wide phone, in real
 * Chromium against a real server: the header is one row, a detail name wraps only after `_`,
 * a wrong authenticator code and the decision are each said once, and the inbox names a gated
 * tool call with its first arguments. Every page is served with the one shared `<head>` and
 * header, whose pages sit behind Menu at 390 px and in the row on a laptop.
 */

const longName = 'notification_recipient_email_address_for_the_weekly_summary';

let browser: TestBrowser;
let server: RunningServer;
let local: LocalServer;
let page: Page;
let secret = '';
let requestId = '';

/** A 6-digit code that is not valid at any step of the ±1 window around now. */
function wrongCode(): string {
  const valid = new Set(
    [-30_000, 0, 30_000].map((offset) => generateTotpCode({ secret, now: Date.now() + offset })),
  );
  for (let n = 0; ; n += 1) {
    const candidate = String(n).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

/** How often `needle` occurs in `haystack`. */
function countOf(haystack: string, needle: string | RegExp): number {
  if (typeof needle === 'string') return haystack.split(needle).length - 1;
  return [...haystack.matchAll(new RegExp(needle.source, `${needle.flags.replace('g', '')}g`))]
    .length;
}

/** The header's pages, as its navigation names them. */
const headerPages = [
  { name: 'Standing grants', path: '/grants' },
  { name: 'Shadow calls', path: '/shadow' },
  { name: 'Delivery', path: '/deliveries' },
];

/**
 * The boxes of the header's items that are shown, asserting that they share one row: every item
 * overlaps every other vertically and the header is no taller than two of its tallest item.
 */
async function expectHeaderOnOneRow(target: Page, selector: string, what: string) {
  const boxes = await target.locator(selector).evaluateAll((nodes) =>
    nodes.map((node) => {
      const rect = node.getBoundingClientRect();
      return { top: rect.top, bottom: rect.bottom, width: rect.width, right: rect.right };
    }),
  );
  const lowestTop = Math.max(...boxes.map((box) => box.top));
  const highestBottom = Math.min(...boxes.map((box) => box.bottom));
  expect(lowestTop, what).toBeLessThan(highestBottom);
  const header = await target.locator('.topbar').boundingBox();
  const tallest = Math.max(...boxes.map((box) => box.bottom - box.top));
  expect(header!.height, what).toBeLessThan(tallest * 2);
  const width = target.viewportSize()!.width;
  for (const box of boxes) expect(box.right, what).toBeLessThanOrEqual(width);
  expect(
    await target.evaluate(() => document.documentElement.scrollWidth),
    what,
  ).toBeLessThanOrEqual(width);
  return boxes;
}

/** The text of every live region on the page (role alert/status or aria-live), as shown now. */
async function liveRegionTexts(target: Page): Promise<string[]> {
  return target
    .locator('[role="alert"], [role="status"], [aria-live]')
    .evaluateAll((nodes) => nodes.map((node) => (node as HTMLElement).innerText));
}

beforeAll(async () => {
  local = await startLocalServer('pages-layout');
  server = local.server;
  const admin = local.admin;
  browser = await launchTestBrowser();
  page = await browser.browser.newPage({ viewport: { width: 390, height: 844 } });
  await signInWithLink(
    page,
    await createLoginUrl(server.store, admin, server.url, Date.now(), { source: 'enroll' }),
  );
  // The authenticator app, set up on the settings page as a person does.
  await page.goto(`${server.url}/settings`);
  await page.getByRole('button', { name: 'Set up authenticator' }).click();
  await page.getByRole('img', { name: 'QR code of the authenticator secret' }).waitFor();
  secret =
    new URL(await page.getByLabel('Authenticator link').inputValue()).searchParams.get('secret') ??
    '';
  await page.getByLabel('Authenticator code').fill(generateTotpCode({ secret }));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText('Authenticator is set up').waitFor();

  // What `loopgate proxy` asks for when a policy gates get_weather behind the authenticator.
  const record = await server.service.requestToolApproval('claude', {
    tool: 'get_weather',
    arguments: {
      city: 'Paris',
      recipient_email: 'ops@example.com\u202E',
      [longName]: 'a'.repeat(100),
      units: 'metric',
    },
    gate: { type: 'totp' },
    timeoutMs: 600_000,
  });
  requestId = record.id;
});

afterAll(async () => {
  await browser?.close();
  await local?.close();
});

describe('the inbox and the approval page at 390 px', () => {
  it('keeps the header on one row on the inbox and the approval page', async () => {
    for (const path of ['/', `/approvals/${requestId}`]) {
      await page.goto(`${server.url}${path}`);
      await page.locator('#account:not([hidden])').waitFor();
      const boxes = await page
        .locator('.topbar .brand img, #operator-name, #settings-link, #sign-out')
        .evaluateAll((nodes) =>
          nodes.map((node) => {
            const rect = node.getBoundingClientRect();
            return { top: rect.top, bottom: rect.bottom, width: rect.width };
          }),
        );
      expect(boxes).toHaveLength(4);
      // Every item of the header overlaps every other vertically: they share one row.
      const lowestTop = Math.max(...boxes.map((box) => box.top));
      const highestBottom = Math.min(...boxes.map((box) => box.bottom));
      expect(lowestTop, path).toBeLessThan(highestBottom);
      // And the header is no taller than its tallest item plus its padding (not two rows).
      const header = await page.locator('.topbar').boundingBox();
      const tallest = Math.max(...boxes.map((box) => box.bottom - box.top));
      expect(header!.height, path).toBeLessThan(tallest * 2);
      // The operator's name is readable, not cut to nothing.
      expect(boxes[1]!.width, path).toBeGreaterThan(20);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
        390,
      );
    }
  });

  it('keeps the header on one row on every signed-in page, its pages behind Menu', async () => {
    for (const path of [
      '/',
      `/approvals/${requestId}`,
      ...headerPages.map((p) => p.path),
      '/settings',
    ]) {
      await page.goto(`${server.url}${path}`);
      await page.locator('#account:not([hidden])').waitFor();
      const nav = page.getByRole('navigation', { name: 'Pages' });
      // At 390 px the pages are not in the row: Menu is, beside Settings and Sign out.
      expect(await nav.isVisible(), path).toBe(false);
      const boxes = await expectHeaderOnOneRow(
        page,
        '.topbar .brand img, #operator-name, .nav-toggle, #settings-link, #sign-out',
        path,
      );
      expect(boxes, path).toHaveLength(5);
      expect(boxes[1]!.width, path).toBeGreaterThan(20);

      await page.getByRole('button', { name: 'Menu' }).click();
      await nav.waitFor();
      for (const { name, path: href } of headerPages) {
        const link = nav.getByRole('link', { name, exact: true });
        expect(await link.getAttribute('href')).toBe(href);
        const box = (await link.boundingBox())!;
        expect(box.x, name).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width, name).toBeLessThanOrEqual(390);
        expect(await link.getAttribute('aria-current'), `${name} on ${path}`).toBe(
          href === path ? 'page' : null,
        );
      }
      expect(await page.locator('#settings-link').getAttribute('aria-current'), path).toBe(
        path === '/settings' ? 'page' : null,
      );
      await expectHeaderOnOneRow(page, '.topbar .brand img, #operator-name, #sign-out', path);
    }
    // A page of the menu opens.
    await page.goto(`${server.url}/`);
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('link', { name: 'Shadow calls' }).click();
    await page.getByRole('heading', { name: 'Shadow mode', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/shadow');
  });

  it('shows the header’s pages in its one row on a laptop, without Menu', async () => {
    const laptop = page;
    try {
      await laptop.setViewportSize({ width: 1280, height: 800 });
      await laptop.goto(`${server.url}/`);
      await laptop.locator('#account:not([hidden])').waitFor();
      expect(await laptop.getByRole('button', { name: 'Menu' }).isVisible()).toBe(false);
      const nav = laptop.getByRole('navigation', { name: 'Pages' });
      for (const { name } of headerPages)
        expect(await nav.getByRole('link', { name, exact: true }).isVisible(), name).toBe(true);
      const boxes = await expectHeaderOnOneRow(
        laptop,
        '.topbar .brand img, .site-nav a, #operator-name, #settings-link, #sign-out',
        'laptop',
      );
      expect(boxes).toHaveLength(4 + headerPages.length);
    } finally {
      await laptop.setViewportSize({ width: 390, height: 844 });
    }
  });

  it('serves every page with the shared head and header, and nothing the CSP would block', async () => {
    const paths: Record<string, string> = {
      'approval.html': `/approvals/${requestId}`,
      'confirm.html': '/email/confirm?token=x',
      'deliveries.html': '/deliveries',
      'grants.html': '/grants',
      'inbox.html': '/',
      'login.html': '/login?token=x',
      'settings.html': '/settings',
      'shadow.html': '/shadow',
      'signin.html': '/signin',
    };
    // A page added to web/pages without a route here fails this test.
    expect(readdirSync(join(webRoot, 'pages')).sort()).toEqual(Object.keys(paths).sort());
    for (const [file, path] of Object.entries(paths)) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-security-policy'), file).toMatch(
        /script-src 'self'; style-src 'self'/,
      );
      const html = await response.text();
      const head = /<head>([\s\S]*)<\/head>/.exec(html)?.[1] ?? '';
      // The shared head, once, with the charset first (within the first 1024 bytes).
      expect(head.trimStart().startsWith('<meta charset="utf-8" />'), file).toBe(true);
      expect(countOf(html, '<meta charset="utf-8" />'), file).toBe(1);
      expect(
        countOf(head, '<meta name="viewport" content="width=device-width, initial-scale=1" />'),
        file,
      ).toBe(1);
      expect(countOf(head, '<link rel="stylesheet" href="/assets/app.css" />'), file).toBe(1);
      expect(countOf(head, /<title>[^<]+ · loopgate<\/title>/), file).toBe(1);
      // The shared header, once, and no partial left unfilled.
      expect(countOf(html, '<header class="topbar">'), file).toBe(1);
      expect(countOf(html, 'href="/grants"'), file).toBeGreaterThanOrEqual(1);
      expect(countOf(html, 'href="/shadow"'), file).toBeGreaterThanOrEqual(1);
      expect(html, file).not.toContain('<!-- partial:');
      // Nothing inline: every script is a file of /assets, no handler or style attributes.
      const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      expect(scripts.length, file).toBeGreaterThan(0);
      for (const tag of scripts) expect(tag, file).toMatch(/ src="\/assets\/[^"]+\.js"/);
      expect(html, file).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    }
  });

  it('names a gated tool call in its inbox row with its first arguments, cut short and revealed', async () => {
    await page.goto(`${server.url}/`);
    const row = page.locator(`li[data-pause-id="${requestId}"]`);
    await row.waitFor();
    const summary = await row.locator('.card-tool').innerText();
    expect(summary).toContain('get_weather · city: Paris');
    expect(summary).toContain('recipient_email: ops@example.com⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩');
    // A long value is cut with an ellipsis; the fourth argument is counted, not shown.
    expect(summary).toMatch(/: a{40}…/);
    expect(summary).not.toContain('a'.repeat(41));
    expect(summary).toMatch(/\+1 more$/);
    expect(await row.innerText()).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
  });

  it('wraps a detail name only after an underscore, never inside a word or with a hyphen', async () => {
    await page.goto(`${server.url}/approvals/${requestId}`);
    await page.locator('#details-body tr').first().waitFor();
    const cells = await page.locator('#details-body th').evaluateAll((nodes) =>
      nodes.map((node) => {
        const style = getComputedStyle(node);
        // The rendered lines of the name: characters grouped by the top of their line box.
        const lines: string[] = [];
        let lastTop: number | null = null;
        const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
          const value = text.textContent ?? '';
          for (let i = 0; i < value.length; i += 1) {
            const range = document.createRange();
            range.setStart(text, i);
            range.setEnd(text, i + 1);
            const top = Math.round(range.getClientRects()[0]?.top ?? 0);
            if (lastTop === null || Math.abs(top - lastTop) > 4) lines.push(value.charAt(i));
            else lines.push(`${lines.pop() ?? ''}${value.charAt(i)}`);
            lastTop = top;
          }
        }
        return {
          name: (node as HTMLElement).innerText.replace(/\s+/g, ''),
          lines,
          hyphens: style.hyphens,
          wordBreak: style.wordBreak,
          overflowWrap: style.overflowWrap,
        };
      }),
    );
    const long = cells.find((cell) => cell.name === longName);
    const email = cells.find((cell) => cell.name === 'recipient_email');
    expect(long, JSON.stringify(cells)).toBeDefined();
    expect(email).toBeDefined();
    // The long name does not fit one line at 390 px, so it must wrap somewhere: at `_` only.
    expect(long!.lines.length).toBeGreaterThan(1);
    for (const cell of cells) {
      expect(cell.lines.join('')).toBe(cell.name);
      for (const line of cell.lines.slice(0, -1)) expect(line, cell.name).toMatch(/_$/);
      expect(cell.hyphens).not.toBe('auto');
      expect(['break-all', 'break-word']).not.toContain(cell.wordBreak);
      expect(cell.overflowWrap).not.toBe('anywhere');
    }
    expect(
      email!.lines.every((line) => line === 'recipient_email' || /^[a-z]+_?$/.test(line)),
    ).toBe(true);
  });

  it('says a wrong authenticator code once: one visible error, one live region', async () => {
    await page.goto(`${server.url}/approvals/${requestId}`);
    const field = page.getByLabel('Authenticator code');
    await field.fill(wrongCode());
    await page.getByRole('button', { name: 'Approve' }).click();
    const error = page.locator('#totp-error');
    await error.filter({ hasText: /code/i }).waitFor();
    await expect.poll(() => field.inputValue()).toBe('');
    const message = (await error.innerText()).trim();
    expect(message).not.toBe('');

    expect(countOf(await page.locator('main').innerText(), message)).toBe(1);
    const live = (await liveRegionTexts(page)).filter((text) => text.includes(message));
    expect(live).toHaveLength(1);
    // The focused field does not read the error a second time through its description.
    const describedBy = (await field.getAttribute('aria-describedby')) ?? '';
    expect(describedBy.split(/\s+/)).not.toContain('totp-error');
    expect((await server.service.getApproval(requestId)).status).toBe('pending');
  });

  it('says the decision once after Approve, on the page and in the live regions', async () => {
    await page.goto(`${server.url}/approvals/${requestId}`);
    await page.getByRole('button', { name: 'Approve' }).waitFor();
    // Everything any live region is given from here on.
    await page.evaluate(() => {
      const said: string[] = [];
      (window as unknown as { said: string[] }).said = said;
      new MutationObserver(() => {
        const regions = document.querySelectorAll('[role="alert"], [role="status"], [aria-live]');
        for (const node of Array.from(regions))
          if ((node as HTMLElement).innerText.trim() !== '')
            said.push((node as HTMLElement).innerText);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    // The next time step's code: the enrolment's code may count as used already.
    await page
      .getByLabel('Authenticator code')
      .fill(generateTotpCode({ secret, now: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Approve' }).click();
    const heading = page.getByRole('heading', { name: 'Approved' });
    await heading.waitFor();
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.id))
      .toBe('outcome-heading');

    const main = await page.locator('main').innerText();
    expect(countOf(main, /approved by admin/i)).toBe(1);
    expect(countOf(main, /\bApproved\b/)).toBe(1);
    const said = await page.evaluate(() => (window as unknown as { said: string[] }).said);
    expect(said.filter((text) => /approved/i.test(text))).toEqual([]);
    expect((await server.service.getApproval(requestId)).response?.decision).toBe('approved');
  });
});

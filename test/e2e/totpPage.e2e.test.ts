import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer } from '../../src/cli/startServer.js';
import { generateTotpCode } from '../../src/gates/totpCode.js';
import { createLoginUrl } from '../../src/service/operatorAuth.js';
import type { OperatorRecord } from '../../src/core/records.js';
import { startLocalServer, type LocalServer } from '../support/localServer.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';

/**
 * The authenticator app in the web UI, in real Chromium against a real server: enrolment on
 * the settings page (QR code, otpauth:// link, first code) from a `login-url --enroll` link,
 * replacing it only with a current code (a stolen plain session cannot), the notice of the
 * change, the Authenticator code field on the approval page of a totp-gated request, and the
 * locked state, which re-enrolling does not clear.
 */

let browser: TestBrowser;
let server: RunningServer;
let local: LocalServer;
let admin: OperatorRecord;
let page: Page;
let secret = '';

async function createTotpRequest(description: string): Promise<string> {
  const record = await server.service.createApproval(
    { action_description: description, action_details: { city: 'Paris' } },
    'claude',
    undefined,
    { gate: { type: 'totp' }, toolName: 'get_weather' },
  );
  return record.id;
}

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

beforeAll(async () => {
  local = await startLocalServer('totp-page');
  server = local.server;
  admin = local.admin;
  browser = await launchTestBrowser();
  page = await browser.browser.newPage({ viewport: { width: 390, height: 844 } });
  // The admin's own enrolment link: a first factor may be added only from such a session.
  await signInWithLink(
    page,
    await createLoginUrl(server.store, admin, server.url, Date.now(), { source: 'enroll' }),
  );
});

/**
 * What the page's own API client (web/assets/api.js, with the page's session) answers for
 * `call`, e.g. `beginTotpEnrollment({})`: how someone holding the session would go around the page.
 */
async function callApiFrom(
  target: Page,
  call: string,
): Promise<{ ok: boolean; code: string | null }> {
  // A string, so the test runner does not rewrite the page-side import().
  return target.evaluate(`(async () => {
    const api = await import('/assets/api.js');
    try {
      await api.${call};
      return { ok: true, code: null };
    } catch (err) {
      return { ok: false, code: err.code ?? String(err) };
    }
  })()`);
}

afterAll(async () => {
  await browser?.close();
  await local?.close();
});

describe('authenticator app in Chromium', () => {
  it('sets up the authenticator on the settings page with the QR code, the link and a first code', async () => {
    await page.goto(`${server.url}/settings`);
    await page.getByText('No authenticator is set up yet.').waitFor();
    await page.getByRole('button', { name: 'Set up authenticator' }).click();
    const qr = page.getByRole('img', { name: 'QR code of the authenticator secret' });
    await qr.waitFor();
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    const uri = await page.getByLabel('Authenticator link').inputValue();
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    secret = new URL(uri).searchParams.get('secret') ?? '';
    expect(secret).not.toBe('');

    // A wrong first code is refused and nothing is enrolled.
    await page.getByLabel('Authenticator code').fill(wrongCode());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('#totp-code-error').filter({ hasText: 'does not match' }).waitFor();
    expect(await server.store.getTotpEnrollment(admin.id)).toBeNull();

    await page.getByLabel('Authenticator code').fill(generateTotpCode({ secret }));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Authenticator is set up').waitFor();
    expect(await page.getByLabel('Authenticator link').isVisible()).toBe(false);
    expect(await server.store.getTotpEnrollment(admin.id)).not.toBeNull();
  });

  it('replaces the authenticator only with a current code: a stolen plain session is refused, and a notice shows', async () => {
    const before = (await server.store.getTotpEnrollment(admin.id))!.secretEncrypted;

    // Someone else holding only a session from a plain sign-in link.
    const stolen = await browser.browser.newContext({ viewport: { width: 390, height: 844 } });
    const thief = await stolen.newPage();
    await signInWithLink(thief, await createLoginUrl(server.store, admin, server.url, Date.now()));
    await thief.goto(`${server.url}/settings`);
    await thief.getByRole('button', { name: 'Set up again on a new device' }).click();
    await thief.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
    await thief.getByRole('button', { name: 'Cancel' }).first().click();
    // Going around the page to the API is refused too, and nothing was replaced.
    expect(await callApiFrom(thief, 'beginTotpEnrollment({})')).toEqual({
      ok: false,
      code: 'E_FACTOR_PROOF_REQUIRED',
    });
    expect(await callApiFrom(thief, 'fetchPasskeyRegistrationOptions({})')).toEqual({
      ok: false,
      code: 'E_FACTOR_PROOF_REQUIRED',
    });
    expect((await server.store.getTotpEnrollment(admin.id))!.secretEncrypted).toBe(before);
    await stolen.close();

    // The operator confirms with the current code, then scans the new secret.
    await page.goto(`${server.url}/settings`);
    await page.getByRole('button', { name: 'Set up again on a new device' }).click();
    await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
    await page
      .getByLabel('Code from your current authenticator app')
      .fill(generateTotpCode({ secret }));
    await page.getByRole('button', { name: 'Continue' }).click();
    const uri = page.getByLabel('Authenticator link');
    await expect.poll(() => uri.inputValue()).toMatch(/^otpauth:\/\/totp\//);
    const fresh = new URL(await uri.inputValue()).searchParams.get('secret') ?? '';
    expect(fresh).not.toBe(secret);
    await page.getByLabel('Authenticator code').fill(generateTotpCode({ secret: fresh }));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Authenticator is set up').waitFor();
    expect((await server.store.getTotpEnrollment(admin.id))!.secretEncrypted).not.toBe(before);
    secret = fresh;

    await page.locator('#factor-notice').getByText('An authenticator app was set up on').waitFor();
    await page.goto(`${server.url}/`);
    await page.locator('#factor-notice').getByText('An authenticator app was set up on').waitFor();
    expect(
      await page.locator('#factor-notice').getByRole('link', { name: 'See Settings' }).isVisible(),
    ).toBe(true);
  });

  it('asks for the Authenticator code to approve, shows a wrong code’s error, and approves with the right one', async () => {
    const id = await createTotpRequest('Get the weather for Paris');
    await page.goto(`${server.url}/approvals/${id}`);
    await page.getByText('Tool call: get_weather').waitFor();
    const field = page.getByLabel('Authenticator code');
    expect(await field.getAttribute('inputmode')).toBe('numeric');
    expect(await field.getAttribute('autocomplete')).toBe('one-time-code');

    // Empty: the page asks for the code and sends nothing.
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('approving needs it').waitFor();
    expect(
      (await server.store.listAuditEntries()).some((e) => e.type === 'gate.totp.refused'),
    ).toBe(false);

    await field.fill(wrongCode());
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('alert').filter({ hasText: /code/i }).first().waitFor();
    await expect.poll(() => field.inputValue()).toBe('');
    expect((await server.service.getApproval(id)).status).toBe('pending');
    expect(
      (await server.store.listAuditEntries())
        .filter((e) => e.type === 'gate.totp.refused')
        .map((e) => e.requestId),
    ).toEqual([id]);

    // The next time step's code: the enrolment's code may count as used already.
    await field.fill(generateTotpCode({ secret, now: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    expect((await server.service.getApproval(id)).response?.decision).toBe('approved');
  });

  it('rejects without a code', async () => {
    const id = await createTotpRequest('Get the weather for Oslo');
    await page.goto(`${server.url}/approvals/${id}`);
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByRole('heading', { name: 'Rejected' }).waitFor();
  });

  it('shows a locked authenticator on the settings page', async () => {
    await server.store.updateTotpState(admin.id, (row) => ({
      state: { ...row.state, lockedAt: Date.now() },
      result: true,
    }));
    await page.goto(`${server.url}/settings`);
    await page.getByText('Authenticator is locked', { exact: true }).waitFor();
    await page.getByText('An admin must unlock it').waitFor();

    // Re-enrolling does not clear the lock: a code from the locked authenticator proves nothing.
    expect(
      await callApiFrom(
        page,
        `beginTotpEnrollment({ current_totp_code: '${generateTotpCode({ secret })}' })`,
      ),
    ).toEqual({ ok: false, code: 'E_TOTP_LOCKED' });
    await page.getByRole('button', { name: 'Set up again on a new device' }).click();
    await page.getByText('an admin must unlock it before you can set it up again').waitFor();
    expect((await server.store.getTotpEnrollment(admin.id))!.state.lockedAt).not.toBeNull();
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  BrowserContext,
  CDPSession,
  Page,
  Request as PlaywrightRequest,
  Route,
} from 'playwright-core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/startServer.js';
import type { GateSpec } from '../../src/core/approval.js';
import { configSchema } from '../../src/config/configSchema.js';
import { createLoginUrl } from '../../src/service/operatorAuth.js';
import type { OperatorRecord } from '../../src/core/records.js';
import { startLocalServer, type LocalServer } from '../support/localServer.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';

/**
 * Passkeys end to end: a real server (startServer, SQLite in a temp dir) at http://localhost —
 * WebAuthn refuses IP addresses as relying party ids — and real Chromium whose passkeys come
 * from the DevTools WebAuthn domain's virtual authenticator (CTAP2, internal, resident keys,
 * user verification).
 */

let browser: TestBrowser;
let server: RunningServer;
let local: LocalServer;
let admin: OperatorRecord;
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;
let authenticatorId: string;

/** A pending request the way the gateway makes one, with the given gate. */
async function createGatedRequest(gate: GateSpec, description: string) {
  const record = await server.service.createApproval(
    { action_description: description, action_details: { amount: '5000', to: 'ACME' } },
    'claude',
    undefined,
    { gate, toolName: 'transfer_funds' },
  );
  return record.id;
}

/** Captures the JSON body of the page's next decision POST for `pauseId`, letting it through. */
function captureDecisionBody(pauseId: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onRequest = (request: PlaywrightRequest) => {
      if (
        request.method() === 'POST' &&
        request.url().endsWith(`/v1/approvals/${pauseId}/decision`)
      ) {
        page.off('request', onRequest);
        resolve(request.postDataJSON() as Record<string, unknown>);
      }
    };
    page.on('request', onRequest);
  });
}

/** Swaps the `webauthn` member of the page's decision POST for `pauseId` with `assertion`. */
async function substituteAssertion(pauseId: string, assertion: unknown): Promise<void> {
  await page.route(`**/v1/approvals/${pauseId}/decision`, async (route: Route) => {
    const body = route.request().postDataJSON() as Record<string, unknown>;
    expect(body['webauthn']).toBeTruthy(); // the page did run the ceremony
    await route.continue({ postData: JSON.stringify({ ...body, webauthn: assertion }) });
  });
}

async function credentialsOnAuthenticator(): Promise<{ signCount: number }[]> {
  const { credentials } = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })) as {
    credentials: { signCount: number }[];
  };
  return credentials;
}

/** A port nothing listens on now, for a server that must know its port before it starts. */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  local = await startLocalServer('passkeys');
  server = local.server;
  admin = local.admin;
  browser = await launchTestBrowser();
  context = await browser.browser.newContext({ viewport: { width: 390, height: 844 } });
  page = await context.newPage();
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  ({ authenticatorId } = (await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  })) as { authenticatorId: string });
  // The admin's own enrolment link: a first factor may be added only from such a session.
  await signInWithLink(
    page,
    await createLoginUrl(server.store, admin, server.url, Date.now(), { source: 'enroll' }),
  );
  await page.goto(`${server.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await local?.close();
});

describe('passkeys in Chromium with a virtual authenticator', () => {
  it('registers a passkey from the settings page, reached from the header', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL((url) => url.pathname === '/settings');
    await expect.poll(() => page.getByText('You have no passkeys yet.').isVisible()).toBe(true);
    await page.getByLabel('Passkey name').fill('Test phone');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText('Passkey “Test phone” added.').waitFor();
    await page.locator('#passkey-list').getByText('Test phone').waitFor();

    const stored = await server.store.listWebAuthnCredentials(admin.id);
    expect(stored.map((c) => c.name)).toEqual(['Test phone']);
    expect(await credentialsOnAuthenticator()).toHaveLength(1);
    // A phone-sized page does not scroll sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      390,
    );
    await page.locator('#factor-notice').getByText('A passkey “Test phone” was added on').waitFor();
  });

  it('refuses a passkey added from a stolen plain session, asking instead for a current passkey', async () => {
    const stolen = await browser.browser.newContext({ viewport: { width: 390, height: 844 } });
    const thief = await stolen.newPage();
    await signInWithLink(thief, await createLoginUrl(server.store, admin, server.url, Date.now()));
    // The operator's inbox tells of the passkey added above.
    await thief
      .locator('#factor-notice')
      .getByText('A passkey “Test phone” was added on')
      .waitFor();
    await thief.goto(`${server.url}/settings`);
    await thief.getByLabel('Passkey name').fill('Not mine');
    await thief.getByRole('button', { name: 'Add a passkey' }).click();
    await thief.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
    // Only a passkey can confirm (the operator has no authenticator app), and this browser
    // holds none of the operator's passkeys: the thief can only cancel.
    expect(await thief.getByRole('button', { name: 'Use a passkey' }).isVisible()).toBe(true);
    expect(await thief.getByLabel('Code from your current authenticator app').isVisible()).toBe(
      false,
    );
    await thief.getByRole('button', { name: 'Cancel' }).click();
    await thief.getByRole('heading', { name: 'Confirm it’s you' }).waitFor({ state: 'hidden' });
    // Going around the page to the API is refused as well.
    const refused = await thief.evaluate(`(async () => {
      const api = await import('/assets/api.js');
      try {
        await api.fetchPasskeyRegistrationOptions({});
        return null;
      } catch (err) {
        return err.code ?? String(err);
      }
    })()`);
    expect(refused).toBe('E_FACTOR_PROOF_REQUIRED');
    expect((await server.store.listWebAuthnCredentials(admin.id)).map((c) => c.name)).toEqual([
      'Test phone',
    ]);
    await stolen.close();
  });

  let usedAssertion: unknown;

  it('approves a webauthn-gated request with the passkey, and the receipt says approved', async () => {
    const id = await createGatedRequest({ type: 'webauthn' }, 'Transfer $5,000 to ACME');
    await page.goto(`${server.url}/approvals/${id}`);
    await page.getByText('Tool call: transfer_funds').waitFor();
    await page.getByText('Approve asks for your passkey').waitFor();
    const sent = captureDecisionBody(id);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();

    usedAssertion = (await sent)['webauthn'];
    expect(usedAssertion).toMatchObject({ type: 'public-key', id: expect.any(String) });
    const record = await server.service.getApproval(id);
    expect(record.response?.decision).toBe('approved');
    expect(record.response?.responder).toBe('admin');
    const entries = await server.store.listAuditEntries();
    expect(
      entries.filter((e) => e.type === 'gate.webauthn.accepted').map((e) => e.requestId),
    ).toEqual([id]);
    expect((await server.store.listWebAuthnCredentials(admin.id))[0]?.lastUsedAt).not.toBeNull();
  });

  it('refuses a replayed assertion: the one used above, sent again for a new request', async () => {
    const id = await createGatedRequest({ type: 'webauthn' }, 'Transfer $9,000 to ACME');
    await page.goto(`${server.url}/approvals/${id}`);
    await substituteAssertion(id, usedAssertion);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('alert').filter({ hasText: 'used already' }).waitFor();
    await page.unroute(`**/v1/approvals/${id}/decision`);

    expect((await server.service.getApproval(id)).status).toBe('pending');
    const refused = (await server.store.listAuditEntries()).filter(
      (e) => e.type === 'gate.webauthn.refused' && e.requestId === id,
    );
    expect(refused.map((e) => e.data['code'])).toEqual(['E_WEBAUTHN_CHALLENGE_INVALID']);

    // The request is still there to decide, and the passkey still works for it.
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
  });

  it("refuses request A's assertion on request B, and A can still be approved", async () => {
    const a = await createGatedRequest({ type: 'webauthn' }, 'Harmless: rotate the staging logs');
    const b = await createGatedRequest(
      { type: 'webauthn' },
      'Dangerous: drop the production database',
    );

    // A's assertion is made on A's page but held back before it reaches the server …
    await page.goto(`${server.url}/approvals/${a}`);
    let assertionForA: unknown;
    await page.route(`**/v1/approvals/${a}/decision`, async (route) => {
      assertionForA = (route.request().postDataJSON() as Record<string, unknown>)['webauthn'];
      await route.abort();
    });
    await page.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => assertionForA).toBeTruthy();
    await page.unroute(`**/v1/approvals/${a}/decision`);

    // … and presented as the approval of B.
    await page.goto(`${server.url}/approvals/${b}`);
    await substituteAssertion(b, assertionForA);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: `was made for request ${a}, not ${b}` })
      .waitFor();
    await page.unroute(`**/v1/approvals/${b}/decision`);
    expect((await server.service.getApproval(b)).status).toBe('pending');
    const refused = (await server.store.listAuditEntries()).filter(
      (e) => e.type === 'gate.webauthn.refused' && e.requestId === b,
    );
    expect(refused.map((e) => e.data['reason'])).toEqual(['challenge_other_request']);

    await page.goto(`${server.url}/approvals/${a}`);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    expect((await server.service.getApproval(a)).response?.decision).toBe('approved');
    expect((await server.service.getApproval(b)).status).toBe('pending');
  });

  it('shows quorum progress and keeps the request pending after one passkey approval', async () => {
    await server.store.ensureOperator({
      id: 'op_bob',
      name: 'bob',
      role: 'approver',
      now: Date.now(),
    });
    const id = await createGatedRequest(
      { type: 'quorum', quorum: { n: 2, approvers: ['admin', 'bob'], stepUp: 'webauthn' } },
      'Wire $50,000 to ACME',
    );
    await page.goto(`${server.url}/approvals/${id}`);
    await page.getByText('0 of 2 approvals').waitFor();
    await page.getByText('Needs 2 of: admin, bob, each with a passkey.').waitFor();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Your approval is recorded; waiting for 1 more').waitFor();
    await page.getByText('1 of 2 approvals: admin').waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).isVisible()).toBe(false);
    const record = await server.service.getApproval(id);
    expect(record.status).toBe('pending');
    expect(record.votes.map((v) => [v.operator, v.decision])).toEqual([['admin', 'approved']]);
  });

  it('refuses a passkey whose sign counter went backwards, and flags it on the settings page', async () => {
    const { credentials } = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })) as {
      credentials: {
        credentialId: string;
        isResidentCredential: boolean;
        rpId: string;
        privateKey: string;
        userHandle: string;
        signCount: number;
      }[];
    };
    const original = credentials[0]!;
    expect(original.signCount).toBeGreaterThan(1);
    // A clone of the authenticator: same key, but its counter is behind the one the server saw.
    await cdp.send('WebAuthn.removeCredential', {
      authenticatorId,
      credentialId: original.credentialId,
    });
    await cdp.send('WebAuthn.addCredential', {
      authenticatorId,
      credential: { ...original, signCount: 0 },
    });

    const id = await createGatedRequest({ type: 'webauthn' }, 'Transfer $1 to ACME');
    await page.goto(`${server.url}/approvals/${id}`);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('alert').filter({ hasText: 'may have been cloned' }).waitFor();
    expect((await server.service.getApproval(id)).status).toBe('pending');
    const entries = await server.store.listAuditEntries();
    expect(
      entries.filter((e) => e.type === 'gate.webauthn.counter_regressed').map((e) => e.requestId),
    ).toEqual([id]);

    await page.goto(`${server.url}/settings`);
    await page.locator('#passkey-list').getByText('Flagged').waitFor();
    await page.getByText('Its sign counter went backwards').waitFor();
  });

  it('explains that passkeys need the public host name when the page is opened by IP address', async () => {
    // The same server opened at 127.0.0.1: its passkeys belong to localhost.
    const byIp = await browser.browser.newContext({ viewport: { width: 390, height: 844 } });
    const other = await byIp.newPage();
    const ipBase = `http://127.0.0.1:${server.port}`;
    // The only passkey is flagged by now, so this is a first factor again: an --enroll link.
    await signInWithLink(
      other,
      await createLoginUrl(server.store, admin, ipBase, Date.now(), { source: 'enroll' }),
    );
    await other.goto(`${ipBase}/settings`);
    await other.getByRole('button', { name: 'Add a passkey' }).click();
    await other
      .getByRole('alert')
      .filter({
        hasText: `Passkeys here belong to localhost, not 127.0.0.1: open http://localhost:${server.port}/settings instead.`,
      })
      .waitFor();
    await byIp.close();

    // A server whose --public-url is an IP address cannot use passkeys at all, so a loopback
    // server announces itself as localhost unless told otherwise.
    const defaultDir = mkdtempSync(join(tmpdir(), 'loopgate-passkeys-default-'));
    const defaultServer = await startServer(
      configSchema.parse({ dataDir: defaultDir, host: '127.0.0.1', port: 0, logLevel: 'silent' }),
      pino({ level: 'silent' }),
    );
    expect(defaultServer.url).toBe(`http://localhost:${defaultServer.port}`);
    await defaultServer.close();
    rmSync(defaultDir, { recursive: true, force: true });

    const ipDir = mkdtempSync(join(tmpdir(), 'loopgate-passkeys-ip-'));
    const ipPort = await freePort();
    const ipServer = await startServer(
      configSchema.parse({
        dataDir: ipDir,
        host: '127.0.0.1',
        port: ipPort,
        publicUrl: `http://127.0.0.1:${ipPort}`,
        logLevel: 'silent',
      }),
      pino({ level: 'silent' }),
    );
    try {
      const ipContext = await browser.browser.newContext({ viewport: { width: 390, height: 844 } });
      const ipPage = await ipContext.newPage();
      const ipAdmin = (await ipServer.store.getOperatorByName('admin'))!;
      await signInWithLink(
        ipPage,
        await createLoginUrl(ipServer.store, ipAdmin, ipServer.url, Date.now(), {
          source: 'enroll',
        }),
      );
      await ipPage.goto(`${ipServer.url}/settings`);
      await ipPage.getByRole('button', { name: 'Add a passkey' }).click();
      await ipPage
        .getByRole('alert')
        .filter({ hasText: 'Passkeys need a host name, not the IP address 127.0.0.1' })
        .waitFor();
      expect(await ipServer.store.listWebAuthnCredentials(ipAdmin.id)).toEqual([]);
      await ipContext.close();
    } finally {
      await ipServer.close();
      rmSync(ipDir, { recursive: true, force: true });
    }
  });
});

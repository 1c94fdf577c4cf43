import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer } from '../../src/cli/startServer.js';
import { createAgentKey, createLoginUrl } from '../../src/service/operatorAuth.js';
import type { OperatorRecord } from '../../src/core/records.js';
import { startLocalServer, type LocalServer } from '../support/localServer.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';

/**
 * The browser's authority is bound to loopgate's exact origin. Browsers share cookies across
 * every port of a host, so a dev server a coding agent runs on another localhost port sees
 * whatever cookies the operator's browser holds for localhost. Here real Chromium signs in to
 * loopgate on http://localhost:<port>, then opens a page on another localhost port whose server
 * records every Cookie header it gets; that server then replays them (and a forged
 * `loopgate_session` cookie holding the real session secret) against loopgate, in a fresh
 * browser and with plain fetch against every `/v1` route. Nothing is read and nothing decided.
 */

let browser: TestBrowser;
let server: RunningServer;
let local: LocalServer;
let admin: OperatorRecord;
let agentKey: string;
let devServer: Server;
let devOrigin: string;
const cookiesSeen: string[] = [];

async function createRequest(description: string): Promise<string> {
  const created = await fetch(`${server.url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action_description: description, action_details: { amount: '420' } }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { pause_id: string }).pause_id;
}

beforeAll(async () => {
  local = await startLocalServer('session-origin');
  server = local.server;
  admin = local.admin;
  agentKey = (await createAgentKey(server.store, 'claude', Date.now())).key;
  // The "dev server" on another localhost port: it records the Cookie header of every request.
  devServer = createHttpServer((req, res) => {
    if (req.headers.cookie) cookiesSeen.push(req.headers.cookie);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>dev server</title><h1>My app</h1>');
  });
  await new Promise<void>((resolve) => devServer.listen(0, '127.0.0.1', resolve));
  devOrigin = `http://localhost:${(devServer.address() as AddressInfo).port}`;
  browser = await launchTestBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (devServer ? devServer.close(() => resolve()) : resolve()));
  await local?.close();
});

describe('a page on another localhost port', () => {
  it('gets no authority from anything the browser sends it, cookies included', async () => {
    const pauseId = await createRequest('Send $420 to ACME');
    const operator = await browser.browser.newContext();
    const page = await operator.newPage();
    await signInWithLink(page, await createLoginUrl(server.store, admin, server.url, Date.now()));
    const secret = await page.evaluate(() => localStorage.getItem('loopgate.session'));
    expect(secret).toMatch(/^[\w-]{20,}$/);

    // The operator later opens the dev server; it cannot read loopgate's storage either.
    await page.goto(`${devOrigin}/`);
    await page.getByRole('heading', { name: 'My app' }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem('loopgate.session'))).toBeNull();
    await operator.close();

    const replayed = [...new Set([...cookiesSeen, `loopgate_session=${secret!}`])];

    // (a) A fresh browser holding those cookies for localhost opens the approval page.
    for (const cookieHeader of replayed) {
      const attacker: BrowserContext = await browser.browser.newContext();
      await attacker.addCookies(
        cookieHeader.split(/;\s*/).map((pair) => {
          const eq = pair.indexOf('=');
          return {
            name: pair.slice(0, eq),
            value: pair.slice(eq + 1),
            domain: 'localhost',
            path: '/',
          };
        }),
      );
      const tab = await attacker.newPage();
      await tab.goto(`${server.url}/approvals/${pauseId}`);
      // The page finds no session and sends the browser to sign in; it never offers Approve.
      await tab.waitForURL((url) => url.pathname === '/signin');
      await tab.getByRole('heading', { name: 'Sign in to loopgate' }).waitFor();
      expect(await tab.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      await attacker.close();
    }

    // (b) The dev server's own process replays them against every /v1 route.
    const operatorRoutes: [string, string][] = [
      ['GET', '/v1/session'],
      ['POST', '/v1/logout'],
      ['POST', '/v1/events/tickets'],
      ['GET', '/v1/events'],
      ['GET', '/v1/events?ticket=x'],
      ['POST', '/v1/approvals'],
      ['GET', '/v1/approvals'],
      ['GET', '/v1/approvals?status=pending'],
      ['GET', `/v1/approvals/${pauseId}`],
      ['GET', `/v1/approvals/${pauseId}/wait?max_wait_seconds=1`],
      ['POST', `/v1/approvals/${pauseId}/cancel`],
      ['POST', `/v1/approvals/${pauseId}/decision`],
      ['POST', `/v1/approvals/${pauseId}/webauthn/options`],
      ['GET', '/v1/settings'],
      ['POST', '/v1/settings/totp/begin'],
      ['POST', '/v1/settings/totp/confirm'],
      ['POST', '/v1/operators/admin/totp/unlock'],
      ['POST', '/v1/webauthn/registration/options'],
      ['POST', '/v1/webauthn/registration/verify'],
      ['GET', '/v1/webauthn/credentials'],
      ['GET', '/v1/deliveries'],
      ['POST', '/v1/handoff'],
      ['GET', '/v1/handoff/hs_x'],
      ['GET', '/v1/handoff/hs_x/wait'],
      ['POST', '/v1/handoff/hs_x/cancel'],
      ['POST', '/v1/handoff/hs_x/end'],
      ['POST', '/v1/gateway/approvals'],
      ['POST', '/v1/gateway/consume'],
      ['POST', '/v1/gateway/otp'],
      ['POST', '/v1/gateway/forwarded'],
    ];
    // Routes authorised by something other than a session (a link's token, Slack's signature).
    const tokenRoutes: [string, string][] = [
      ['POST', '/v1/login'],
      ['POST', '/v1/email/confirm/lookup'],
      ['POST', '/v1/email/confirm'],
      ['POST', '/v1/slack/actions'],
    ];
    const body = JSON.stringify({
      decision: 'approved',
      action_description: 'x',
      token: '',
      response: {},
      name: 'x',
      code: '000000',
      enrollment_token: 'x',
    });
    for (const cookie of replayed) {
      for (const [method, path] of [...operatorRoutes, ...tokenRoutes]) {
        const answer = await fetch(`${server.url}${path}`, {
          method,
          headers: { cookie, 'content-type': 'application/json' },
          ...(method === 'POST' ? { body } : {}),
        });
        const text = await answer.text();
        if (operatorRoutes.some(([m, p]) => m === method && p === path)) {
          expect([401, 403], `${method} ${path} → ${answer.status} ${text}`).toContain(
            answer.status,
          );
        } else {
          expect(
            answer.status >= 400 && answer.status < 500,
            `${method} ${path} → ${answer.status} ${text}`,
          ).toBe(true);
        }
        expect(text).not.toContain('csrf_token');
        expect(text).not.toContain('Send $420');
      }
    }

    // Nothing was decided: the request is still pending, with no response and no receipt.
    const view = (await (
      await fetch(`${server.url}/v1/approvals/${pauseId}`, {
        headers: { authorization: `Bearer ${agentKey}` },
      })
    ).json()) as {
      status: string;
      response?: unknown;
      receipt?: unknown;
    };
    expect(view.status).toBe('pending');
    expect(view.response ?? null).toBeNull();
    expect(view.receipt ?? null).toBeNull();
    // The session itself was not ended by the replayed logout either.
    expect(
      (await fetch(`${server.url}/v1/session`, { headers: { 'x-loopgate-session': secret! } }))
        .status,
    ).toBe(200);
  }, 120_000);
});

describe('sign-in links', () => {
  it('are not spent by GET or HEAD (link unfurlers), and sign in once on the button', async () => {
    const link = await createLoginUrl(server.store, admin, server.url, Date.now());
    for (const method of ['GET', 'HEAD']) {
      const answer = await fetch(link, { method, redirect: 'manual' });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('set-cookie')).toBeNull();
    }
    const context = await browser.browser.newContext();
    const page = await context.newPage();
    await signInWithLink(page, link);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await context.cookies()).toEqual([]);

    // The link is spent now: a second browser is told so and stays signed out.
    const again = await (await browser.browser.newContext()).newPage();
    await again.goto(link);
    await again.getByRole('button', { name: 'Sign in' }).click();
    await again.getByRole('alert').filter({ hasText: 'already used' }).waitFor();
    expect(await again.evaluate(() => localStorage.getItem('loopgate.session'))).toBeNull();
    await again.context().close();

    // Signing out clears the browser's secret and ends the session on the server.
    const secret = await page.evaluate(() => localStorage.getItem('loopgate.session'));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/signin');
    expect(await page.evaluate(() => localStorage.getItem('loopgate.session'))).toBeNull();
    expect(
      (await fetch(`${server.url}/v1/session`, { headers: { 'x-loopgate-session': secret! } }))
        .status,
    ).toBe(401);
    await context.close();
  }, 60_000);

  it('land on the inbox for a next that would leave loopgate, never off-site and never a 500', async () => {
    const badNexts = [
      '/%09/example.com',
      '/%0a',
      '//example.com/x',
      '/%5Cexample.com',
      'https://example.com/',
      '/%0d%0aSet-Cookie:x=1',
      '/ok%20x',
    ];
    const context = await browser.browser.newContext();
    const page = await context.newPage();
    for (const next of badNexts) {
      const link = `${await createLoginUrl(server.store, admin, server.url, Date.now())}&next=${next}`;
      const shown = await page.goto(link);
      expect(shown?.status(), next).toBe(200);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.pathname === '/');
      expect(new URL(page.url()).origin, next).toBe(server.url);
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await page.evaluate(() => localStorage.clear());
    }
    await context.close();
  }, 120_000);

  it('go on to a next on this server', async () => {
    const pauseId = await createRequest('Rotate the key');
    const link = `${await createLoginUrl(server.store, admin, server.url, Date.now())}&next=${encodeURIComponent(`/approvals/${pauseId}`)}`;
    const context = await browser.browser.newContext();
    const page = await context.newPage();
    await signInWithLink(page, link);
    await page.getByRole('button', { name: 'Approve' }).waitFor();
    await context.close();
  });

  it('are not spent by a sign-in refused for its next', async () => {
    const token = new URL(
      await createLoginUrl(server.store, admin, server.url, Date.now()),
    ).searchParams.get('token');
    const post = (next: string) =>
      fetch(`${server.url}/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, next }),
      });
    for (const next of ['/\t/example.com', '/\n', '//example.com']) {
      const refused = await post(next);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'E_AUTH_NEXT_INVALID',
      );
    }
    expect((await post('/')).status).toBe(200);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import {
  startRecordingServer,
  type RecordedRequest,
  type RecordingServer,
} from '../../src/channels/testing/recordingServer.js';
import { openSqliteStore } from '../../src/store/sqliteStore.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';
import { initDataDir, runCli, startServe, type ServeProcess } from '../support/cli.js';

/**
 * The spawned CLI (`npm test` builds first): linking Slack users and addresses to operators,
 * managing webhooks, and a running `loopgate serve` delivering Standard Webhooks that a
 * receiver verifies with the `standardwebhooks` package; failures show on the Delivery page.
 */

const dataDirs: string[] = [];
const receivers: RecordingServer[] = [];
let serve: ServeProcess | undefined;
let browser: TestBrowser | undefined;

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Waits for a condition; the test's own timeout bounds it, so a busy machine only waits longer. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** Each test gets its own data dir and receiver, so it runs alone (`-t`) as well as in the file. */
async function freshSetup() {
  const dataDir = await initDataDir(mkdtempSync(join(tmpdir(), 'loopgate-notify-cli-')));
  dataDirs.push(dataDir);
  const receiver = await startRecordingServer(() => ({ status: 204, body: '' }));
  receivers.push(receiver);
  return {
    dataDir,
    receiver,
    cli: (...args: string[]) => runCli([...args, '--data-dir', dataDir]),
  };
}

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await Promise.all(receivers.map((r) => r.close()));
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('loopgate operators link-slack / link-email', () => {
  it('links a Slack user id and an address to an operator, and refuses malformed ones', async () => {
    const { dataDir, cli } = await freshSetup();
    expect((await cli('operators', 'invite', 'bob')).code).toBe(0);
    const linked = await cli('operators', 'link-slack', 'bob', 'U0BOB0001');
    expect(linked.code).toBe(0);
    expect(linked.stderr).toContain('Linked Slack user U0BOB0001 to bob');
    expect((await cli('operators', 'link-email', 'bob', 'Bob@Example.com')).code).toBe(0);

    const badId = await cli('operators', 'link-slack', 'bob', 'bob');
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('E_CLI_USAGE');
    const nobody = await cli('operators', 'link-slack', 'nobody', 'U0NOBODY1');
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('E_OPERATOR_NOT_FOUND');

    const store = openSqliteStore(join(dataDir, 'loopgate.db'));
    try {
      expect((await store.findOperatorByContact('slack', 'U0BOB0001'))?.name).toBe('bob');
      expect((await store.findOperatorByContact('email', 'bob@example.com'))?.name).toBe('bob');
    } finally {
      await store.close();
    }
  });
});

describe('loopgate webhooks and a running server', () => {
  it('adds, lists and refuses bad webhooks', async () => {
    const { receiver, cli } = await freshSetup();
    const added = await cli(
      'webhooks',
      'add',
      `${receiver.origin}/hook`,
      '--events',
      'request.created,request.decided',
    );
    expect(added.code).toBe(0);
    const [id, secret] = added.stdout.trim().split('\t') as [string, string];
    expect(id).toMatch(/^wh_/);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const list = await cli('webhooks', 'list');
    expect(list.stdout).toContain(
      `${id}\t${receiver.origin}/hook\trequest.created,request.decided\tactive`,
    );
    expect(list.stdout).not.toContain('whsec_');

    const badEvents = await cli(
      'webhooks',
      'add',
      `${receiver.origin}/hook`,
      '--events',
      'request.created,approval.everything',
    );
    expect(badEvents.code).toBe(1);
    expect(badEvents.stderr).toContain('E_WEBHOOK_EVENTS_INVALID');
    const badUrl = await cli('webhooks', 'add', 'ftp://example.com/hook');
    expect(badUrl.stderr).toContain('E_WEBHOOK_URL_INVALID');
    const unknown = await cli('webhooks', 'remove', 'wh_nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('E_WEBHOOK_NOT_FOUND');
  });

  it('delivers signed request.created and request.decided that a standardwebhooks receiver verifies, and shows failures on the Delivery page', async () => {
    const { dataDir, receiver, cli } = await freshSetup();
    const added = await cli(
      'webhooks',
      'add',
      `${receiver.origin}/hook`,
      '--events',
      'request.created,request.decided',
    );
    const secret = added.stdout.trim().split('\t')[1]!;
    const failing = await cli(
      'webhooks',
      'add',
      `http://127.0.0.1:${await closedPort()}/down`,
      '--events',
      'request.created',
    );
    const failingId = failing.stdout.split('\t')[0]!;
    serve = await startServe(dataDir);
    const key = (await cli('keys', 'create', '--name', 'claude')).stdout.trim();
    const created = await fetch(`${serve.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        action_description: 'Rotate the prod database password',
        action_details: { db: 'prod' },
      }),
    });
    const view = (await created.json()) as { pause_id: string };
    await until(() => receiver.requests.length === 1);
    const verify = (req: RecordedRequest) =>
      new Webhook(secret).verify(req.body, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      }) as { type: string; data: Record<string, unknown> };
    expect(verify(receiver.requests[0]!)).toMatchObject({
      type: 'request.created',
      data: { pause_id: view.pause_id, status: 'pending' },
    });

    // Only signed-in operators read delivery failures.
    expect((await fetch(`${serve.url}/v1/deliveries`)).status).toBe(401);
    const asAgent = await fetch(`${serve.url}/v1/deliveries`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(asAgent.status).toBe(403);
    expect(((await asAgent.json()) as { error: { code: string } }).error.code).toBe(
      'E_AUTH_FORBIDDEN',
    );

    browser = await launchTestBrowser();
    const page = await browser.browser.newPage();
    await signInWithLink(page, serve.loginUrl);
    // The endpoint on a closed port failed: the inbox says so and links to the Delivery page.
    await page.getByText('1 notification could not be delivered in the last day.').waitFor();
    await page.getByRole('link', { name: 'See Delivery' }).click();
    await page.waitForURL((url) => url.pathname === '/deliveries');
    const row = page.locator('#webhooks-body tr').first();
    // Retries follow the Standard Webhooks schedule (the next after 5 s), so on a busy machine
    // the page may already show a later attempt: what matters is that it says it is retrying.
    await row.getByText(/retrying \(attempt \d+ failed\)/).waitFor();
    await expect(row.textContent()).resolves.toContain('request.created');
    await expect(row.textContent()).resolves.toContain(view.pause_id);

    await page.goto(`${serve.url}/approvals/${view.pause_id}`);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Approved' }).waitFor();
    await until(() => receiver.requests.length === 2);
    expect(verify(receiver.requests[1]!)).toMatchObject({
      type: 'request.decided',
      data: {
        pause_id: view.pause_id,
        status: 'responded',
        response: { decision: 'approved', responder: 'admin', channel: 'web' },
      },
    });
    expect(receiver.requests[1]!.headers['webhook-id']).not.toBe(
      receiver.requests[0]!.headers['webhook-id'],
    );

    expect((await cli('webhooks', 'remove', failingId)).code).toBe(0);
    expect((await cli('webhooks', 'list')).stdout).not.toContain(failingId);
  });
});

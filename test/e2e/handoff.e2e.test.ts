import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchCdpChromium,
  type CdpChromium,
} from '../../src/handoff/testing/launchCdpChromium.js';
import type { TestBrowser } from '../support/chromium.js';
import { cliPath, runCli, startServe, type ServeProcess } from '../support/cli.js';
import {
  startHandoffStage,
  waitForViewerReady,
  type HandoffStage,
} from '../support/handoffStage.js';
import { waitFor } from '../support/waitFor.js';

type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
};

// The agent's site (beside its OTP form at /login): a page that opens a popup (an OAuth window)
// with its own code field, which closes itself once submitted.
const field = 'box-sizing:border-box;width:200px;height:40px';
const pages: Record<string, string> = {
  '/opener': `<!doctype html><html><body style="margin:0">
<button id="open" style="position:absolute;left:100px;top:100px;width:200px;height:60px">Sign in with Provider</button>
<script>document.getElementById('open').onclick = () => window.open('/popup', 'oauth', 'width=600,height=500');</script></body></html>`,
  '/popup': `<!doctype html><html><head><title>Provider</title></head><body style="margin:0">
<form method="POST" action="/popup-submit" style="position:absolute;left:50px;top:50px;margin:0">
<input id="code" name="code" autocomplete="off" autofocus style="${field}"></form>
<script>document.getElementById('code').focus();</script></body></html>`,
};

let stage: HandoffStage;
let siteOrigin: string;
let agentBrowser: CdpChromium;
let human: TestBrowser;
let submissions: HandoffStage['posts'];
const dirs: string[] = [];

beforeAll(async () => {
  stage = await startHandoffStage({
    pages,
    afterSubmit: { '/popup-submit': '<script>setTimeout(() => window.close(), 200)</script>' },
  });
  ({ siteOrigin, agentBrowser, human, posts: submissions } = stage);
});

afterAll(async () => {
  await stage?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-handoff-'));
  dirs.push(dir);
  return dir;
}

/** `loopgate mcp …` over stdio with the v1 client; every stderr line (debug logs included) is kept. */
async function startMcp(
  args: string[],
): Promise<{ client: Client; logs: () => string; close: () => Promise<void> }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliPath, 'mcp', ...args],
    env: {
      ...(process.env as Record<string, string>),
      DEBUG: 'loopgate:*',
      LOOPGATE_CDP_URL: agentBrowser.httpUrl,
      LOOPGATE_LOG_LEVEL: 'debug',
    },
    stderr: 'pipe',
  });
  let logs = '';
  transport.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const client = new Client({ name: 'e2e-handoff', version: '1.0.0' });
  await client.connect(transport);
  return { client, logs: () => logs, close: () => client.close() };
}

/** Navigates the agent's page to `path` on the test site and waits for it to load. */
const showAgentPage = (path: string) => stage.showPage(path);

/** Opens the session URL in the human's Chromium and waits until the first frame is drawn. */
async function openViewer(
  sessionUrl: string,
  viewport = { width: 1280, height: 800 },
): Promise<Page> {
  const page = await human.browser.newPage({ viewport });
  await page.goto(sessionUrl);
  await waitForViewerReady(page);
  return page;
}

/** Clicks the viewer where the agent page's CSS pixel (x, y) is drawn (1280×800 page). */
async function clickAt(page: Page, x: number, y: number): Promise<void> {
  const box = (await page.locator('#screen').boundingBox())!;
  const scale = Math.min(box.width / 1280, box.height / 800);
  const drawnX = (box.width - 1280 * scale) / 2;
  const drawnY = (box.height - 800 * scale) / 2;
  await page.mouse.click(box.x + drawnX + x * scale, box.y + drawnY + y * scale);
}

const structured = <T>(r: ToolResult) => r.structuredContent as T;

describe('loopgate mcp (embedded server) with the v1 client, two real Chromiums', () => {
  let mcp: Awaited<ReturnType<typeof startMcp>>;
  const call = (name: string, args: Record<string, unknown>) =>
    mcp.client.callTool({ name, arguments: args }) as Promise<ToolResult>;
  const secrets: string[] = [];

  beforeAll(async () => {
    mcp = await startMcp(['--data-dir', tempDir(), '--port', '0']);
  });
  afterAll(async () => {
    await mcp?.close();
  });

  it('lists the four handoff tools; authloop_handoff points 60 s clients to the pair', async () => {
    const { tools } = await mcp.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'browser_handoff',
        'wait_for_handoff',
        'cancel_handoff',
        'authloop_handoff',
      ]),
    );
    expect(tools.find((t) => t.name === 'authloop_handoff')!.description).toMatch(
      /60 s.*browser_handoff \+ wait_for_handoff/,
    );
  });

  it('the human types the OTP, presses Enter and Done: the site gets exactly that code and wait_for_handoff says resolved', async () => {
    await showAgentPage('/login');
    const started = await call('browser_handoff', {
      service: 'Test Bank',
      context: { url: `${siteOrigin}/login`, blocker_type: 'otp', hint: 'SMS code' },
    });
    expect(started.isError, started.content[0]?.text).toBeFalsy();
    const { session_id, session_url } = structured<{ session_id: string; session_url: string }>(
      started,
    );
    expect(session_url).toMatch(/\/handoff\/ho_[\w-]+\?t=[\w-]{43}#k=[\w-]{43}$/);
    secrets.push(session_url.split('#k=')[1]!, new URL(session_url).searchParams.get('t')!);

    const first = call('wait_for_handoff', { session_id, max_wait_seconds: 40 });
    const page = await openViewer(session_url);
    expect(structured(await first)).toMatchObject({ status: 'active', viewer_connected: true });

    await clickAt(page, 150, 120);
    const otp = '493-20.1';
    secrets.push(otp);
    await page.keyboard.type(otp);
    await page.keyboard.press('Enter');
    await waitFor('the form submission', () => submissions.length > 0);
    expect(submissions).toEqual([{ path: '/submit', value: otp }]);

    const second = call('wait_for_handoff', { session_id, max_wait_seconds: 40 });
    await page.click('#done');
    const done = await second;
    expect(done.isError).toBeFalsy();
    expect(structured(done)).toMatchObject({
      session_id,
      status: 'resolved',
      viewer_connected: false,
    });
    expect(done.content[0]?.text).toMatch(/RESOLVED/);
    await page.close();
  });

  it('Cancel in the viewer → cancelled', async () => {
    await showAgentPage('/login');
    const started = await call('browser_handoff', { service: 'Test Bank' });
    const { session_id, session_url } = structured<{ session_id: string; session_url: string }>(
      started,
    );
    const page = await openViewer(session_url, { width: 390, height: 844 });
    const waiting = call('wait_for_handoff', { session_id, max_wait_seconds: 40 });
    await page.click('#cancel');
    const result = await waiting;
    expect(result.isError).toBe(true);
    expect(structured(result)).toMatchObject({ status: 'cancelled' });
    expect(await page.textContent('#message')).toMatch(/Cancelled/);
    await page.close();
  });

  it('runs several sessions at once; cancel_handoff ends one, its viewer is told, the other goes on', async () => {
    await showAgentPage('/login');
    const a = structured<{ session_id: string; session_url: string }>(
      await call('browser_handoff', { service: 'A' }),
    );
    const b = structured<{ session_id: string; session_url: string }>(
      await call('browser_handoff', { service: 'B' }),
    );
    expect(a.session_id).not.toBe(b.session_id);
    const page = await openViewer(a.session_url);
    const cancelled = await call('cancel_handoff', { session_id: a.session_id });
    expect(structured(cancelled)).toMatchObject({ status: 'cancelled' });
    await waitFor('the viewer to show the end', async () =>
      /Cancelled|ended/.test((await page.textContent('#message')) ?? ''),
    );
    expect(await page.isDisabled('#done')).toBe(true);
    const again = await call('cancel_handoff', { session_id: a.session_id });
    expect(again.isError).toBe(true);
    expect(again.content[0]?.text).toMatch(/E_HANDOFF_ENDED/);
    const other = await call('wait_for_handoff', { session_id: b.session_id, max_wait_seconds: 0 });
    expect(structured(other)).toMatchObject({ status: 'pending', viewer_connected: false });
    await call('cancel_handoff', { session_id: b.session_id });
    await page.close();
  });

  it('nobody opens the link: timeout when ttl_seconds runs out', async () => {
    const started = await call('browser_handoff', { service: 'Test Bank', ttl_seconds: 5 });
    const { session_id } = structured<{ session_id: string }>(started);
    const t0 = Date.now();
    const result = await call('wait_for_handoff', { session_id, max_wait_seconds: 20 });
    expect(structured(result)).toMatchObject({ status: 'timeout' });
    expect(result.isError).toBe(true);
    expect(Date.now() - t0).toBeLessThan(9_000);
  });

  it('follows a popup the page opens, streams it, and returns to the opener when it closes', async () => {
    await showAgentPage('/opener');
    const started = await call('browser_handoff', {
      service: 'Provider',
      cdp_url: agentBrowser.browserWsUrl,
      context: { url: `${siteOrigin}/opener` },
    });
    const { session_id, session_url } = structured<{ session_id: string; session_url: string }>(
      started,
    );
    const page = await openViewer(session_url);
    await clickAt(page, 200, 130);
    await waitFor('the popup streamed', async () => (await page.title()) === 'loopgate · popup');
    await page.locator('#keyboard').focus();
    await page.keyboard.type('777111');
    await page.keyboard.press('Enter');
    await waitFor('the popup’s form submission', () => submissions.length > 0);
    expect(submissions).toEqual([{ path: '/popup-submit', value: '777111' }]);
    await waitFor(
      'back on the opener',
      async () => (await page.title()) === 'loopgate · live handoff',
    );
    const waiting = call('wait_for_handoff', { session_id, max_wait_seconds: 40 });
    await page.click('#done');
    expect(structured(await waiting)).toMatchObject({ status: 'resolved' });
    await page.close();
  });

  it('authloop_handoff blocks until Done, with the session URL and whether the human is connected in its progress notifications', async () => {
    await showAgentPage('/login');
    const progress: string[] = [];
    let opened: Promise<Page> | undefined;
    let clicked: Promise<Page> | undefined;
    const result = (await mcp.client.callTool(
      {
        name: 'authloop_handoff',
        arguments: { service: 'Test Bank', context: { blocker_type: 'otp' } },
      },
      undefined,
      {
        timeout: 60_000,
        resetTimeoutOnProgress: true,
        onprogress: (p) => {
          progress.push(p.message ?? '');
          const url = /Send them: (\S+)/.exec(p.message ?? '')?.[1];
          if (url && !opened) opened = openViewer(url);
          // Done only once the agent has said, in its progress, that the human is connected.
          if (/The human is connected/.test(p.message ?? '') && opened && !clicked) {
            clicked = opened.then(async (page) => {
              await page.click('#done');
              return page;
            });
          }
        },
      },
    )) as ToolResult;
    expect(result.isError).toBeFalsy();
    const out = structured<{ session_url: string; status: string }>(result);
    expect(out.status).toBe('resolved');
    expect(progress[0]).toContain(out.session_url);
    expect(
      progress.some((m) => m.includes('The human is connected') && m.includes(out.session_url)),
    ).toBe(true);
    secrets.push(out.session_url.split('#k=')[1]!);
    await (await clicked!).close();
  });

  it('the browser goes away mid-handoff → error', async () => {
    const doomed = await launchCdpChromium(`${siteOrigin}/login`);
    try {
      const started = await call('browser_handoff', {
        service: 'Test Bank',
        cdp_url: doomed.browserWsUrl,
      });
      const { session_id, session_url } = structured<{ session_id: string; session_url: string }>(
        started,
      );
      const page = await openViewer(session_url);
      const waiting = call('wait_for_handoff', { session_id, max_wait_seconds: 40 });
      await doomed.close();
      const result = await waiting;
      expect(result.isError).toBe(true);
      expect(structured(result)).toMatchObject({ status: 'error' });
      expect(String(structured<{ detail: string }>(result).detail)).toMatch(/browser|DevTools/);
      await page.close();
    } finally {
      await doomed.close();
    }
  });

  it('refuses a bad cdp_url with a hint and opens no session', async () => {
    const result = await call('browser_handoff', { service: 'x', cdp_url: 'ftp://nowhere' });
    expect(result.isError).toBe(true);
    expect(result.content[0]?.text).toMatch(/E_CDP_URL_INVALID/);
  });

  it('explains itself in DEBUG logs, and no log line holds a typed code, a key or a token', () => {
    const logs = mcp.logs();
    expect(logs).toMatch(/loopgate:relay .*session ho_\S+: pending → active/);
    expect(logs).toMatch(/loopgate:cdp .*screencast started/);
    expect(logs).toMatch(/loopgate:crypto .*keys confirmed|loopgate:crypto/);
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    for (const secret of secrets) expect(logs).not.toContain(secret);
    expect(logs).not.toContain('777111');
  });
});

describe('loopgate mcp --server-url (remote relay) with the v1 client', () => {
  let server: ServeProcess;
  let mcp: Awaited<ReturnType<typeof startMcp>>;
  const call = (name: string, args: Record<string, unknown>) =>
    mcp.client.callTool({ name, arguments: args }) as Promise<ToolResult>;

  beforeAll(async () => {
    const dataDir = tempDir();
    server = await startServe(dataDir);
    const key = await runCli(['keys', 'create', '--name', 'remote-agent', '--data-dir', dataDir]);
    expect(key.code, key.stderr).toBe(0);
    mcp = await startMcp(['--server-url', server.url, '--api-key', key.stdout.trim()]);
  });
  afterAll(async () => {
    await mcp?.close();
    await server?.stop();
  });

  it('OTP typed in the viewer reaches the page; Done → resolved; the server never sees k or the code', async () => {
    await showAgentPage('/login');
    const started = await call('browser_handoff', {
      service: 'Remote Bank',
      context: { url: `${siteOrigin}/login` },
    });
    expect(started.isError, started.content[0]?.text).toBeFalsy();
    const { session_id, session_url } = structured<{ session_id: string; session_url: string }>(
      started,
    );
    expect(session_url.startsWith(`${server.url}/handoff/${session_id}?t=`)).toBe(true);
    const page = await openViewer(session_url, { width: 390, height: 844 });
    await page.locator('#keyboard').focus();
    await page.keyboard.type('20481');
    await page.keyboard.press('Enter');
    await waitFor('the form submission', () => submissions.length > 0);
    expect(submissions).toEqual([{ path: '/submit', value: '20481' }]);
    const waiting = call('wait_for_handoff', { session_id, max_wait_seconds: 40 });
    await page.click('#done');
    expect(structured(await waiting)).toMatchObject({ status: 'resolved' });
    await page.close();

    const k = session_url.split('#k=')[1]!;
    const token = new URL(session_url).searchParams.get('t')!;
    for (const logs of [server.output(), mcp.logs()]) {
      expect(logs).not.toContain(k);
      expect(logs).not.toContain(token);
      expect(logs).not.toContain('20481');
    }
    expect(mcp.logs()).toMatch(/loopgate:relay .*agent socket connected/);
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { CdpConnection } from '../../src/handoff/cdpConnection.js';
import { resolveCdpTarget } from '../../src/handoff/resolveCdpTarget.js';
import {
  launchCdpChromium,
  type CdpChromium,
} from '../../src/handoff/testing/launchCdpChromium.js';
import { launchTestBrowser, type TestBrowser } from './chromium.js';
import { waitFor } from './waitFor.js';

// The agent's login page: an OTP field at a known place, focused, submitted with Enter.
const loginPage = `<!doctype html><html><body style="margin:0;font:16px sans-serif">
<form method="POST" action="/submit" style="position:absolute;left:100px;top:100px;margin:0">
<input id="otp" name="otp" autocomplete="off" autofocus style="box-sizing:border-box;width:200px;height:40px"></form>
<script>document.getElementById('otp').focus();</script></body></html>`;

/**
 * What a browser handoff needs around loopgate: a site on loopback whose `/login` page has an
 * OTP field (at 100,100, 200×40 CSS px, focused, submitted with Enter), the agent's Chromium
 * (DevTools on a random port) open on it, and the human's Chromium.
 */
export interface HandoffStage {
  /** `http://127.0.0.1:<port>` of the site; its login page is `${siteOrigin}/login`. */
  readonly siteOrigin: string;
  readonly agentBrowser: CdpChromium;
  readonly human: TestBrowser;
  /** The OTPs the login form received, in order; {@link HandoffStage.resetLoginPage} empties it. */
  readonly submissions: string[];
  /**
   * Every form the site received, in order: the path posted to and the form's `otp` (else
   * `code`) field; {@link HandoffStage.showPage} empties it.
   */
  readonly posts: Array<{ path: string; value: string }>;
  /** Puts the agent's page back on a fresh, focused login form; resolves with its target id. */
  resetLoginPage(): Promise<string>;
  /**
   * Navigates the agent's page to `path` on the site and empties the submissions; resolves with
   * the page's target id.
   */
  showPage(path: string): Promise<string>;
  /** The OTP field's value in the agent's page (null without the field). */
  otpValue(targetId: string): Promise<string>;
  /** The agent page's `window.innerWidth` × `innerHeight`. */
  agentViewport(targetId: string): Promise<{ width: number; height: number }>;
  /** Closes both browsers and the site. */
  close(): Promise<void>;
}

/** Evaluates `expression` in the agent's page `targetId` over a fresh CDP connection. */
async function evaluateInAgentPage<T>(
  agentBrowser: CdpChromium,
  targetId: string,
  expression: string,
): Promise<T> {
  const conn = await CdpConnection.connect(agentBrowser.browserWsUrl);
  try {
    const { sessionId } = (await conn.send('Target.attachToTarget', {
      targetId,
      flatten: true,
    })) as { sessionId: string };
    const r = (await conn.send(
      'Runtime.evaluate',
      { expression, returnByValue: true },
      sessionId,
    )) as { result: { value: T } };
    return r.result.value;
  } finally {
    await conn.close();
  }
}

/** More of the site: pages beside the login page, and what follows a form posted to a path. */
export interface HandoffStageOptions {
  /** HTML served at these paths (any other path serves the login page). */
  readonly pages?: Readonly<Record<string, string>>;
  /** HTML appended to the "signed in" answer to a form posted to these paths. */
  readonly afterSubmit?: Readonly<Record<string, string>>;
}

/** Starts the login site, the agent's Chromium on its login page and the human's Chromium. */
export async function startHandoffStage(options: HandoffStageOptions = {}): Promise<HandoffStage> {
  const submissions: string[] = [];
  const posts: Array<{ path: string; value: string }> = [];
  const site = createServer((req, res) => {
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        submissions.push(form.get('otp') ?? '');
        posts.push({ path: req.url ?? '', value: form.get('otp') ?? form.get('code') ?? '' });
        const after = options.afterSubmit?.[req.url ?? ''] ?? '';
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<p>signed in</p>${after}`);
      });
      return;
    }
    const page = options.pages?.[req.url ?? ''] ?? loginPage;
    res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  const closeSite = () => new Promise((resolve) => site.close(resolve));
  let agentBrowser: CdpChromium;
  let human: TestBrowser;
  try {
    [agentBrowser, human] = await Promise.all([
      launchCdpChromium(`${siteOrigin}/login`),
      launchTestBrowser(),
    ]);
  } catch (error) {
    await closeSite();
    throw error;
  }
  const showPage = async (path: string) => {
    const target = await resolveCdpTarget(agentBrowser.httpUrl);
    const conn = await CdpConnection.connect(agentBrowser.browserWsUrl);
    try {
      const { sessionId } = (await conn.send('Target.attachToTarget', {
        targetId: target.targetId,
        flatten: true,
      })) as { sessionId: string };
      await conn.send('Page.enable', {}, sessionId);
      await conn.send('Page.navigate', { url: `${siteOrigin}${path}` }, sessionId);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await conn.close();
    }
    submissions.length = 0;
    posts.length = 0;
    return target.targetId;
  };
  return {
    siteOrigin,
    agentBrowser,
    human,
    submissions,
    posts,
    resetLoginPage: () => showPage('/login'),
    showPage,
    otpValue: (targetId) =>
      evaluateInAgentPage(agentBrowser, targetId, 'document.getElementById("otp")?.value ?? null'),
    agentViewport: (targetId) =>
      evaluateInAgentPage(agentBrowser, targetId, '({width: innerWidth, height: innerHeight})'),
    async close() {
      await human.close();
      await agentBrowser.close();
      await closeSite();
    },
  };
}

/**
 * Waits until the handoff viewer open in `page` says its keys are confirmed ("End-to-end
 * encrypted") and has drawn the agent's first frame (its message line is empty).
 */
export async function waitForViewerReady(page: Page): Promise<void> {
  await waitFor(
    'keys confirmed in the viewer',
    async () => (await page.textContent('#encryption')) === 'End-to-end encrypted',
  );
  await waitFor('the first frame drawn', async () => (await page.textContent('#message')) === '');
}

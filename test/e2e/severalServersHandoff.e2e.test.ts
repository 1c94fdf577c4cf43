import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdpConnection } from '../../src/handoff/cdpConnection.js';
import { resolveCdpTarget } from '../../src/handoff/resolveCdpTarget.js';
import {
  launchCdpChromium,
  type CdpChromium,
} from '../../src/handoff/testing/launchCdpChromium.js';
import { forwardedByHeader } from '../../src/http/handoffForwarder.js';
import { createHandoffAgent, type HandoffAgent } from '../../src/mcp/handoffAgent.js';
import { createRemoteHandoffClient } from '../../src/mcp/handoffClient.js';
import { launchTestBrowser, signInWithLink, type TestBrowser } from '../support/chromium.js';
import {
  directUrl,
  freshLoginUrl,
  startSeveralServers,
  type SeveralServers,
} from '../support/severalServers.js';
import { waitFor } from '../support/waitFor.js';

/*
 * A browser handoff across two real `loopgate serve` processes on one PostgreSQL database,
 * behind the round-robin balancer both announce (test/support/severalServers.ts). The session
 * lives in the memory of the server its agent talks to (A); the human's browser, signed in,
 * reaches only B, which forwards the viewer to A.
 */

const loginPage = `<!doctype html><html><body style="margin:0;font:16px sans-serif">
<form method="POST" action="/submit" style="position:absolute;left:100px;top:100px;margin:0">
<input id="otp" name="otp" autocomplete="off" autofocus style="box-sizing:border-box;width:200px;height:40px"></form>
<script>document.getElementById('otp').focus();</script></body></html>`;

let servers: SeveralServers;
let site: Server;
let siteOrigin: string;
let agentBrowser: CdpChromium;
let human: TestBrowser;
let agent: HandoffAgent | undefined;
const submissions: string[] = [];

beforeAll(async () => {
  servers = await startSeveralServers();
  site = createHttpServer((req, res) => {
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        submissions.push(new URLSearchParams(body).get('otp') ?? '');
        res.writeHead(200, { 'content-type': 'text/html' }).end('<p>signed in</p>');
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(loginPage);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  [agentBrowser, human] = await Promise.all([
    launchCdpChromium(`${siteOrigin}/login`),
    launchTestBrowser(),
  ]);
});

afterAll(async () => {
  await agent?.closeAll();
  await human?.close();
  await agentBrowser?.close();
  if (site) await new Promise((resolve) => site.close(resolve));
  await servers?.stop();
});

/** The value of the OTP field in the agent's page, read over CDP. */
async function otpValue(targetId: string): Promise<string> {
  const conn = await CdpConnection.connect(agentBrowser.browserWsUrl);
  try {
    const { sessionId } = (await conn.send('Target.attachToTarget', {
      targetId,
      flatten: true,
    })) as { sessionId: string };
    const r = (await conn.send(
      'Runtime.evaluate',
      { expression: 'document.getElementById("otp")?.value ?? null', returnByValue: true },
      sessionId,
    )) as { result: { value: string } };
    return r.result.value;
  } finally {
    await conn.close();
  }
}

/** `GET /v1/handoff/:id` straight to `server`, served by that server itself (not forwarded). */
async function statusServedBy(server: SeveralServers['a'], sessionId: string): Promise<number> {
  const response = await fetch(`${directUrl(server)}/v1/handoff/${sessionId}`, {
    headers: { authorization: `Bearer ${servers.agentKey}`, [forwardedByHeader]: 'srv_test' },
  });
  await response.body?.cancel();
  return response.status;
}

describe('a handoff across two loopgate serve processes on PostgreSQL', () => {
  it('the agent is on A; the human, signed in through the balancer that reaches only B, types the OTP and presses Done; the agent’s wait on A resolves', async () => {
    const { a, b, balancer } = servers;
    const { targetId } = await resolveCdpTarget(agentBrowser.httpUrl);
    const client = createRemoteHandoffClient({ serverUrl: directUrl(a), apiKey: servers.agentKey });
    agent = createHandoffAgent({ client, defaultCdpUrl: agentBrowser.httpUrl });
    const { session_id, session_url } = await agent.start({
      service: 'Test Bank',
      context: { url: `${siteOrigin}/login`, blocker_type: 'otp' },
    });
    expect(session_url.startsWith(`${balancer.url}/handoff/${session_id}?t=`)).toBe(true);
    // The session lives on A only: B, asked to serve it itself, does not know it.
    expect(await statusServedBy(a, session_id)).toBe(200);
    expect(await statusServedBy(b, session_id)).toBe(404);

    // From here on the balancer sends every new connection (the human's browser) to B.
    balancer.remove(0);
    const connectionsToA = balancer.counts[0];
    const connectionsToB = balancer.counts[1]!;
    const context = await human.browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await signInWithLink(page, await freshLoginUrl(servers));
      const first = agent.waitForChange(session_id, 40);
      await page.goto(session_url);
      await waitFor(
        'keys confirmed in the viewer',
        async () => (await page.textContent('#encryption')) === 'End-to-end encrypted',
      );
      await waitFor(
        'the first frame drawn',
        async () => (await page.textContent('#message')) === '',
      );
      expect(await first).toMatchObject({ status: 'active', viewer_connected: true });

      const box = (await page.locator('#screen').boundingBox())!;
      const scale = Math.min(box.width / 1280, box.height / 800);
      const drawnX = (box.width - 1280 * scale) / 2;
      const drawnY = (box.height - 800 * scale) / 2;
      await page.mouse.click(box.x + drawnX + 150 * scale, box.y + drawnY + 120 * scale);
      await page.keyboard.type('493-20.1');
      await waitFor(
        'the code in the agent’s page',
        async () => (await otpValue(targetId)) === '493-20.1',
      );
      await page.keyboard.press('Enter');
      await waitFor('the form submission', () => submissions.length > 0);
      expect(submissions).toEqual(['493-20.1']);

      const second = agent.waitForChange(session_id, 40);
      await page.click('#done');
      expect(await second).toMatchObject({
        session_id,
        status: 'resolved',
        viewer_connected: false,
      });
      expect(await page.textContent('#message')).toMatch(/Done/);
      // Every connection of the human's browser went to B; B forwarded the viewer to A.
      expect(balancer.counts[0]).toBe(connectionsToA);
      expect(balancer.counts[1]).toBeGreaterThan(connectionsToB);
    } finally {
      balancer.restore(0);
      await context.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCdpTarget } from '../../src/handoff/resolveCdpTarget.js';
import { forwardedByHeader } from '../../src/http/handoffForwarder.js';
import { createHandoffAgent, type HandoffAgent } from '../../src/mcp/handoffAgent.js';
import { createRemoteHandoffClient } from '../../src/mcp/handoffClient.js';
import { signInWithLink } from '../support/chromium.js';
import {
  startHandoffStage,
  waitForViewerReady,
  type HandoffStage,
} from '../support/handoffStage.js';
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

let servers: SeveralServers;
let stage: HandoffStage;
let agent: HandoffAgent | undefined;

beforeAll(async () => {
  servers = await startSeveralServers();
  stage = await startHandoffStage();
});

afterAll(async () => {
  await agent?.closeAll();
  await stage?.close();
  await servers?.stop();
});

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
    const { agentBrowser, human, siteOrigin, submissions, otpValue } = stage;
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
      await waitForViewerReady(page);
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

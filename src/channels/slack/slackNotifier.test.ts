import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLoopgateError } from '../../core/errors.js';
import { sampleApproval } from '../testing/sampleApproval.js';
import { startRecordingServer, type RecordingServer } from '../testing/recordingServer.js';
import { SlackClient } from './slackClient.js';
import { SlackNotifier } from './slackNotifier.js';

// A local stand-in for Slack's Web API (we cannot reach Slack): it answers like Slack and
// records every call, and the tests assert what was sent.
const token = 'xoxb-test-0000-token';
let slack: RecordingServer;
let ts = 0;

beforeEach(async () => {
  ts = 0;
  slack = await startRecordingServer((req) => {
    const body = JSON.parse(req.body) as { channel?: string };
    ts += 1;
    const channel = body.channel?.startsWith('#') ? 'C0APPROVALS' : body.channel;
    return {
      body: { ok: true, channel, ts: `1763632800.00010${ts}`, message_ts: `1763632800.00020${ts}` },
    };
  });
});
afterEach(async () => {
  await slack.close();
});

function makeClient(
  extra: Partial<ConstructorParameters<typeof SlackClient>[0]> = {},
): SlackClient {
  return new SlackClient({ token, baseUrl: `${slack.origin}/api`, ...extra });
}

function calls(): { path: string; body: Record<string, unknown> }[] {
  return slack.requests.map((r) => ({
    path: r.path,
    body: JSON.parse(r.body) as Record<string, unknown>,
  }));
}

describe('SlackNotifier against a stand-in Web API', () => {
  it('posts the approval message with the bot token, then updates it in place with the outcome', async () => {
    const notifier = new SlackNotifier({
      client: makeClient(),
      gateNeedsPage: () => false,
      slackUserIdOf: (name) => (name === 'alice' ? 'U0ALICE1' : undefined),
    });
    const delivery = await notifier.notifyCreated(sampleApproval(), '#approvals');
    expect(delivery).toEqual({
      channel: 'slack',
      recipient: '#approvals',
      ref: 'C0APPROVALS:1763632800.000101',
    });

    const post = slack.requests[0]!;
    expect(post.method).toBe('POST');
    expect(post.path).toBe('/api/chat.postMessage');
    expect(post.headers['authorization']).toBe(`Bearer ${token}`);
    expect(post.headers['content-type']).toBe('application/json; charset=utf-8');
    const posted = JSON.parse(post.body) as {
      channel: string;
      text: string;
      blocks: { type: string; elements?: { action_id: string; value: string }[] }[];
    };
    expect(posted.channel).toBe('#approvals');
    expect(posted.text).toBe('Approval requested: Send $420 to ACME Corp');
    const actions = posted.blocks.find((b) => b.type === 'actions');
    expect(actions?.elements?.map((e) => [e.action_id, e.value])).toEqual([
      ['loopgate_approve', 'pa_7Hq2xKc9'],
      ['loopgate_reject', 'pa_7Hq2xKc9'],
    ]);

    await notifier.notifyDecided(
      sampleApproval({
        status: 'responded',
        response: {
          decision: 'approved',
          responder: 'alice',
          responded_at: '2026-11-20T10:05:00.000Z',
          channel: 'slack',
        },
      }),
      delivery,
    );
    const update = calls()[1]!;
    expect(update.path).toBe('/api/chat.update');
    expect(update.body).toMatchObject({
      channel: 'C0APPROVALS',
      ts: '1763632800.000101',
      text: 'Approved: Send $420 to ACME Corp',
    });
    expect(JSON.stringify(update.body['blocks'])).toContain('*Approved* by <@U0ALICE1> (alice)');
    expect(JSON.stringify(update.body['blocks'])).not.toContain('loopgate_approve');
    expect(slack.requests[1]!.headers['authorization']).toBe(`Bearer ${token}`);
  });

  it('links to the approval page instead of buttons when the gate needs a step-up', async () => {
    const notifier = new SlackNotifier({ client: makeClient(), gateNeedsPage: () => true });
    await notifier.notifyCreated(sampleApproval(), 'U0BOB0001');
    const body = calls()[0]!.body;
    expect(body['channel']).toBe('U0BOB0001');
    const json = JSON.stringify(body['blocks']);
    expect(json).toContain('"action_id":"loopgate_open_page"');
    expect(json).toContain('"url":"http://127.0.0.1:7878/approvals/pa_7Hq2xKc9"');
    expect(json).not.toContain('loopgate_approve');
  });

  it('reminds in the thread of the first message, and digests into one message', async () => {
    const notifier = new SlackNotifier({
      client: makeClient(),
      gateNeedsPage: () => false,
      now: () => Date.parse('2026-11-21T09:30:00.000Z'),
    });
    const delivery = await notifier.notifyCreated(sampleApproval(), 'C0APPROVALS');
    await notifier.notifyReminder(sampleApproval(), delivery);
    await notifier.notifyDigest('U0BOB0001', {
      pauseIds: ['pa_a', 'pa_b', 'pa_c'],
      inboxUrl: 'http://127.0.0.1:7878/',
    });
    const [, reminder, digest] = calls();
    expect(reminder!.path).toBe('/api/chat.postMessage');
    expect(reminder!.body).toMatchObject({
      channel: 'C0APPROVALS',
      thread_ts: '1763632800.000101',
    });
    expect(JSON.stringify(reminder!.body['blocks'])).toContain('expires in 30 minutes');
    expect(digest!.body).toMatchObject({ channel: 'U0BOB0001', text: '3 more requests waiting' });
  });

  it('refuses a recipient that is neither a channel nor a user, and calls nothing', async () => {
    const notifier = new SlackNotifier({ client: makeClient(), gateNeedsPage: () => false });
    await expect(notifier.notifyCreated(sampleApproval(), 'bob@example.com')).rejects.toMatchObject(
      {
        code: 'E_APPROVAL_INPUT_INVALID',
      },
    );
    expect(slack.requests).toHaveLength(0);
  });
});

describe('SlackClient failure handling', () => {
  it("turns ok:false into E_SLACK_API_ERROR naming Slack's error and a fix", async () => {
    slack.handler = () => ({ body: { ok: false, error: 'channel_not_found' } });
    const err: unknown = await makeClient()
      .postMessage({ channel: '#nope', text: 'x' })
      .catch((e: unknown) => e);
    expect(isLoopgateError(err, 'E_SLACK_API_ERROR')).toBe(true);
    expect((err as Error).message).toContain('channel_not_found');
    expect((err as Error).message).toContain('Invite the bot');
    expect((err as Error).message).not.toContain(token);
  });

  it('turns an unexpected HTTP status without JSON into E_SLACK_API_ERROR', async () => {
    slack.handler = () => ({
      status: 502,
      headers: { 'content-type': 'text/html' },
      body: '<html>bad gateway</html>',
    });
    await expect(makeClient().postMessage({ channel: 'C0X1', text: 'x' })).rejects.toMatchObject({
      code: 'E_SLACK_API_ERROR',
    });
  });

  it('waits Retry-After after a 429 and then succeeds', async () => {
    let n = 0;
    slack.handler = () =>
      ++n === 1
        ? {
            status: 429,
            headers: { 'retry-after': '3' },
            body: { ok: false, error: 'ratelimited' },
          }
        : { body: { ok: true, channel: 'C0X1', ts: '1.2' } };
    const waits: number[] = [];
    const client = makeClient({ sleep: async (ms) => void waits.push(ms) });
    await expect(client.postMessage({ channel: 'C0X1', text: 'x' })).resolves.toEqual({
      channel: 'C0X1',
      ts: '1.2',
    });
    expect(waits).toEqual([3000]);
    expect(slack.requests).toHaveLength(2);
  });

  it('gives up with E_SLACK_RATE_LIMITED when 429s persist or Retry-After is too long', async () => {
    slack.handler = () => ({ status: 429, headers: { 'retry-after': '1' }, body: { ok: false } });
    const waits: number[] = [];
    await expect(
      makeClient({ sleep: async (ms) => void waits.push(ms), maxRateLimitRetries: 2 }).postMessage({
        channel: 'C0X1',
        text: 'x',
      }),
    ).rejects.toMatchObject({ code: 'E_SLACK_RATE_LIMITED' });
    expect(waits).toEqual([1000, 1000]);
    expect(slack.requests).toHaveLength(3);

    slack.requests.length = 0;
    slack.handler = () => ({ status: 429, headers: { 'retry-after': '120' }, body: { ok: false } });
    await expect(
      makeClient({ sleep: async () => undefined }).update({
        channel: 'C0X1',
        ts: '1.2',
        text: 'x',
      }),
    ).rejects.toMatchObject({ code: 'E_SLACK_RATE_LIMITED' });
    expect(slack.requests).toHaveLength(1);
  });

  it('reports E_SLACK_UNREACHABLE when nothing listens at the base URL', async () => {
    const origin = slack.origin;
    await slack.close();
    const client = new SlackClient({ token, baseUrl: `${origin}/api` });
    const err: unknown = await client
      .postEphemeral({ channel: 'C0X1', user: 'U0X1', text: 'no' })
      .catch((e: unknown) => e);
    expect(isLoopgateError(err, 'E_SLACK_UNREACHABLE')).toBe(true);
    expect((err as Error).message).not.toContain(token);
    slack = await startRecordingServer();
  });

  it('posts an ephemeral refusal visible to one user', async () => {
    await makeClient().postEphemeral({
      channel: 'C0APPROVALS',
      user: 'U0MALLORY',
      text: 'You may not decide this request.',
    });
    expect(calls()[0]).toEqual({
      path: '/api/chat.postEphemeral',
      body: { channel: 'C0APPROVALS', user: 'U0MALLORY', text: 'You may not decide this request.' },
    });
  });

  it('answers a response_url only on an allowed origin, without the bot token', async () => {
    const client = makeClient({ responseUrlOrigins: [slack.origin] });
    await client.respond(`${slack.origin}/actions/T1/2/abc`, {
      response_type: 'ephemeral',
      text: 'no',
    });
    expect(slack.requests[0]!.path).toBe('/actions/T1/2/abc');
    expect(slack.requests[0]!.headers['authorization']).toBeUndefined();

    await expect(
      makeClient().respond(`${slack.origin}/actions/T1/2/abc`, { text: 'no' }),
    ).rejects.toMatchObject({ code: 'E_SLACK_RESPONSE_URL_FORBIDDEN' });
    await expect(makeClient().respond('not a url', { text: 'no' })).rejects.toMatchObject({
      code: 'E_SLACK_RESPONSE_URL_FORBIDDEN',
    });
    expect(slack.requests).toHaveLength(1);
  });
});

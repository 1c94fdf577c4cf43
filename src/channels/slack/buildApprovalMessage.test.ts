import { describe, expect, it } from 'vitest';
import { sampleApproval } from '../testing/sampleApproval.js';
import { buildApprovalMessage } from './buildApprovalMessage.js';
import { buildDecidedMessage } from './buildDecidedMessage.js';
import { buildDigestMessage } from './buildDigestMessage.js';
import { buildReminderMessage } from './buildReminderMessage.js';
import type { SlackBlock, SlackButton } from './slackBlocks.js';

function buttonsOf(blocks: SlackBlock[]): SlackButton[] {
  return blocks.flatMap((b) => (b.type === 'actions' ? b.elements : []));
}

describe('buildApprovalMessage', () => {
  it('shows the action, details and Approve / Reject buttons carrying the pause_id', () => {
    const message = buildApprovalMessage(sampleApproval(), { gateNeedsPage: false });
    expect(message.text).toBe('Approval requested: Send $420 to ACME Corp');
    expect(message.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'Send $420 to ACME Corp', emoji: false },
    });
    expect(JSON.stringify(message.blocks)).toContain('*amount*\\n420');
    expect(JSON.stringify(message.blocks)).toContain('*to*\\nACME Corp');
    expect(buttonsOf(message.blocks)).toEqual([
      expect.objectContaining({
        action_id: 'loopgate_approve',
        value: 'pa_7Hq2xKc9',
        style: 'primary',
      }),
      expect.objectContaining({
        action_id: 'loopgate_reject',
        value: 'pa_7Hq2xKc9',
        style: 'danger',
      }),
    ]);
    expect(buttonsOf(message.blocks).map((b) => b.text.text)).toEqual(['Approve', 'Reject']);
  });

  it('offers only a link to the approval page when the gate needs TOTP or a passkey', () => {
    const message = buildApprovalMessage(sampleApproval(), { gateNeedsPage: true });
    const buttons = buttonsOf(message.blocks);
    expect(buttons).toEqual([
      expect.objectContaining({
        action_id: 'loopgate_open_page',
        url: 'http://127.0.0.1:7878/approvals/pa_7Hq2xKc9',
      }),
    ]);
    expect(JSON.stringify(message.blocks)).not.toContain('loopgate_approve');
    expect(JSON.stringify(message.blocks)).toContain('second factor');
  });

  it('sends the human to the page when a required field must be filled in', () => {
    const approval = sampleApproval({
      fields: [
        { name: 'reference', label: 'Reference', type: 'string', required: true },
        { name: 'note', type: 'string' },
      ],
    });
    const message = buildApprovalMessage(approval, { gateNeedsPage: false });
    expect(buttonsOf(message.blocks).map((b) => b.action_id)).toEqual(['loopgate_open_page']);
    expect(JSON.stringify(message.blocks)).toContain(
      'Fields requested: Reference (required), note',
    );
  });

  it('escapes agent text so it cannot mention @channel, users, or disguise a link', () => {
    const hostile = '<!channel> pay <https://evil.example|your bank> & <@U0ADMIN>';
    const message = buildApprovalMessage(
      sampleApproval({
        action_description: hostile,
        action_details: { '<!here>': '<https://x.example>' },
      }),
      { gateNeedsPage: false },
    );
    // mrkdwn (and the notification text) is where Slack parses <…>: nothing raw may reach it.
    const mrkdwnTexts = [
      message.text,
      ...message.blocks
        .flatMap((b) =>
          b.type === 'section'
            ? [b.text, ...(b.fields ?? [])]
            : b.type === 'context'
              ? b.elements
              : [],
        )
        .flatMap((t) => (t?.type === 'mrkdwn' ? [t.text] : [])),
    ];
    expect(mrkdwnTexts.length).toBeGreaterThan(2);
    for (const text of mrkdwnTexts) expect(text).not.toMatch(/[<>]/);
    expect(message.text).toContain(
      '&lt;!channel&gt; pay &lt;https://evil.example|your bank&gt; &amp;',
    );
    expect(JSON.stringify(message.blocks)).toContain('*&lt;!here&gt;*\\n&lt;https://x.example&gt;');
    // The header is plain_text, which Slack shows literally (no mentions, no links).
    expect(message.blocks[0]).toMatchObject({
      type: 'header',
      text: { type: 'plain_text', text: hostile },
    });
    for (const block of message.blocks) {
      if (block.type === 'section') {
        for (const t of [block.text, ...(block.fields ?? [])]) {
          if (t?.type === 'mrkdwn') expect(t.verbatim).toBe(true);
        }
      }
    }
  });

  it('keeps within Block Kit limits for long text and many details', () => {
    const details = Object.fromEntries(
      Array.from({ length: 55 }, (_, i) => [`k${i}`, 'v'.repeat(3000)]),
    );
    const message = buildApprovalMessage(
      sampleApproval({ action_description: 'x'.repeat(500), action_details: details }),
      { gateNeedsPage: false },
    );
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    for (const block of message.blocks) {
      if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(150);
      if (block.type === 'section') {
        expect(block.fields?.length ?? 0).toBeLessThanOrEqual(10);
        for (const f of block.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
        expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      }
    }
    expect(JSON.stringify(message.blocks)).toContain('15 more details on the approval page.');
  });
});

describe('buildDecidedMessage', () => {
  it('says who approved, where and when, and leaves no buttons', () => {
    const message = buildDecidedMessage(
      sampleApproval({
        status: 'responded',
        response: {
          decision: 'approved',
          comment: 'ok <!channel>',
          responder: 'alice',
          responded_at: '2026-11-20T10:05:00.000Z',
          channel: 'slack',
        },
      }),
      { decidedBySlackUserId: 'U0ALICE1' },
    );
    const json = JSON.stringify(message.blocks);
    expect(message.text).toBe('Approved: Send $420 to ACME Corp');
    expect(json).toContain('*Approved* by <@U0ALICE1> (alice) via slack at 2026-11-20 10:05 UTC');
    expect(json).toContain('Comment: ok &lt;!channel&gt;');
    expect(buttonsOf(message.blocks)).toEqual([]);
  });

  it('says rejected, timed out or cancelled, and that nothing was decided', () => {
    const rejected = buildDecidedMessage(
      sampleApproval({
        status: 'responded',
        response: {
          decision: 'rejected',
          responder: 'bob',
          responded_at: '2026-11-20T10:05:00.000Z',
          channel: 'email',
        },
      }),
      { decidedBySlackUserId: 'not a user id' },
    );
    expect(JSON.stringify(rejected.blocks)).toContain('*Rejected* by bob via email');
    expect(JSON.stringify(rejected.blocks)).not.toContain('<@');
    expect(
      JSON.stringify(buildDecidedMessage(sampleApproval({ status: 'timed_out' })).blocks),
    ).toContain('Timed out*: nothing was decided');
    expect(
      JSON.stringify(buildDecidedMessage(sampleApproval({ status: 'expired' })).blocks),
    ).toContain('nothing was decided');
  });
});

describe('buildReminderMessage and buildDigestMessage', () => {
  it('reminds with the time left', () => {
    const now = Date.parse('2026-11-21T09:48:00.000Z');
    const message = buildReminderMessage(sampleApproval(), now);
    expect(JSON.stringify(message.blocks)).toContain(
      'expires in 12 minutes (2026-11-21 10:00 UTC)',
    );
  });

  it('digests held requests into one message that links to the inbox and never approves', () => {
    const message = buildDigestMessage({
      pauseIds: ['pa_1', 'pa_2', 'pa_3'],
      inboxUrl: 'http://127.0.0.1:7878/',
    });
    expect(message.text).toBe('3 more requests waiting');
    const buttons = buttonsOf(message.blocks);
    expect(buttons).toEqual([
      expect.objectContaining({ action_id: 'loopgate_open_inbox', url: 'http://127.0.0.1:7878/' }),
    ]);
    expect(JSON.stringify(message).toLowerCase()).not.toContain('approve');
  });
});

import { describe, expect, it } from 'vitest';
import type { ApprovalView } from '../core/approvalView.js';
import { describeOutcome } from './createMcpServer.js';

function responded(
  decision: 'approved' | 'rejected',
  comment: string,
  fields: Record<string, string | number | boolean> = {},
): ApprovalView {
  return {
    pause_id: 'pa_1',
    status: 'responded',
    action_hash: 'a'.repeat(64),
    response: {
      pause_id: 'pa_1',
      action_hash: 'a'.repeat(64),
      decision,
      comment,
      fields,
      responder: 'alice',
      responded_at: '2026-01-01T00:00:00.000Z',
      channel: 'web',
      nonce: '00',
      signature: 'sha256=00',
    },
  } as unknown as ApprovalView;
}

describe('describeOutcome: the human’s words reach the model, marked as theirs', () => {
  it('quotes a rejection’s reason with hidden characters revealed', () => {
    const outcome = describeOutcome(
      responded('rejected', 'Pay the\u200b other invoice.\nIgnore   this'),
    );
    expect(outcome.isError).toBe(true);
    expect(outcome.text).toBe(
      "REJECTED by alice at 2026-01-01T00:00:00.000Z. The human's reason, in alice's own words between « and » (hidden characters shown as ⟨…⟩): «Pay the⟨U+200B ZERO WIDTH SPACE⟩ other invoice.⟨newline⟩\nIgnore⟨3 spaces⟩this». Do not perform the action. Take the human's reason into account: tell the user, or ask again with a changed request.",
    );
  });

  it('says when a rejection came without a reason', () => {
    expect(describeOutcome(responded('rejected', '')).text).toMatch(
      /^REJECTED by alice at \S+\. No reason was given\. Do not perform the action\./,
    );
  });

  it('gives an approval’s comment and the fields the human filled in', () => {
    const text = describeOutcome(
      responded('approved', 'ok', { account: 'DE\u202e12', limit: 100, urgent: true }),
    ).text;
    expect(text).toMatch(/^APPROVED by alice at \S+\. The human's comment, in alice's own words/);
    expect(text).toContain(
      'Fields alice filled in: account = DE⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩12; limit = 100; urgent = true.',
    );
  });
});

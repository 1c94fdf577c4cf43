import type { NotifiableApproval } from '../notifiableApproval.js';

/** A pending approval like the one in docs/api.md, with overrides. */
export function sampleApproval(overrides: Partial<NotifiableApproval> = {}): NotifiableApproval {
  return {
    pause_id: 'pa_7Hq2xKc9',
    action_description: 'Send $420 to ACME Corp',
    action_details: { amount: '420', to: 'ACME Corp' },
    fields: [],
    expires_at: '2026-11-21T10:00:00.000Z',
    approval_url: 'http://127.0.0.1:7878/approvals/pa_7Hq2xKc9',
    status: 'pending',
    ...overrides,
  };
}

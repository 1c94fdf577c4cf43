import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { createRecipientPolicy } from './recipientPolicy.js';

let store: Store;

beforeEach(async () => {
  store = openSqliteStore(':memory:');
  const bob = await store.ensureOperator({ id: 'op_bob', name: 'bob', role: 'approver', now: 1 });
  await store.linkOperatorContact({
    operatorId: bob.id,
    kind: 'email',
    value: 'bob@corp.test',
    now: 1,
  });
  await store.linkOperatorContact({ operatorId: bob.id, kind: 'slack', value: 'U0BOB', now: 1 });
});

afterEach(() => store.close());

describe('createRecipientPolicy', () => {
  const allowed = {
    email: ['ops@partner.test', '@example.com'],
    slack: ['C0APPROVALS', '#approvals'],
  };

  it('allows linked operators and what the admin listed, whatever the case of an address', async () => {
    const policy = createRecipientPolicy(store, allowed);
    for (const input of [
      { recipient_email: 'Bob@Corp.test' },
      { recipient_email: 'ops@partner.test' },
      { recipient_email: 'anyone@EXAMPLE.com' },
      { recipient_slack: 'U0BOB' },
      { recipient_slack: 'C0APPROVALS' },
      { recipient_slack: '#approvals' },
      { recipient_email: 'bob@corp.test', recipient_slack: '#approvals' },
      {},
    ]) {
      await expect(policy.assertAllowed(input)).resolves.toBeUndefined();
    }
  });

  it('refuses everything else, including look-alike domains and an allowed Slack target with an unknown address', async () => {
    const policy = createRecipientPolicy(store, allowed);
    for (const input of [
      { recipient_email: 'victim@outside.test' },
      { recipient_email: 'x@sub.example.com' },
      { recipient_email: 'x@example.com.evil.test' },
      { recipient_email: 'ops@partner.test.evil' },
      { recipient_slack: 'U0STRANGER' },
      { recipient_slack: '#general' },
      { recipient_slack: '#approvals', recipient_email: 'victim@outside.test' },
    ]) {
      await expect(policy.assertAllowed(input), JSON.stringify(input)).rejects.toMatchObject({
        code: 'E_APPROVAL_RECIPIENT_NOT_ALLOWED',
        status: 403,
      });
    }
  });

  it('refuses allow-list entries that are not an address, @domain, Slack id or #channel', () => {
    expect(() => createRecipientPolicy(store, { email: ['example.com'], slack: [] })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_INVALID' }),
    );
    expect(() => createRecipientPolicy(store, { email: [], slack: ['general'] })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_INVALID' }),
    );
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeSigningKey } from '../crypto/signingKeys.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { ApprovalService } from './approvalService.js';
import { GrantService } from './grantService.js';

const approve = { type: 'approve' } as const;

describe('GrantService', () => {
  let store: Store;
  let approvals: ApprovalService;
  let grants: GrantService;
  const clock = { now: Date.UTC(2026, 10, 20, 10, 0, 0) };

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    const receiptKey = await describeSigningKey(generateKeyPairSync('ed25519').privateKey);
    const now = () => clock.now;
    approvals = new ApprovalService({
      store,
      receiptKey,
      signingSecret: 's'.repeat(32),
      publicUrl: 'http://127.0.0.1:7878',
      now,
    });
    grants = new GrantService({ store, approvals, receiptKey, now });
  });
  afterEach(async () => {
    await store.close();
  });

  async function grantFor(args: Record<string, unknown>, minutes: number) {
    const record = await approvals.requestToolApproval('bot', {
      tool: 'get_weather',
      arguments: args,
      gate: approve,
      timeoutMs: 60_000,
    });
    await grants.recordOffer(record.id, {
      reaches: ['once', 'exact', 'tool'],
      maxMinutes: 60,
      maxUses: null,
      sessionId: null,
    });
    const { grant } = await grants.decide(
      record.id,
      { decision: 'approved', responder: 'alice', channel: 'web' },
      { reach: 'tool', minutes, maxUses: null, constraints: { city: '*' } },
    );
    return grant!;
  }

  const use = (args: Record<string, unknown>, gate: { type: 'approve' | 'totp' } = approve) =>
    grants.useForCall('bot', { tool: 'get_weather', arguments: args, gate, sessionId: 's' });

  it('serves calls until not_after, and nothing from then on', async () => {
    const grant = await grantFor({ city: 'Paris' }, 10);
    expect(grant.notAfter).toBe(clock.now + 10 * 60_000);
    clock.now += 10 * 60_000 - 1;
    expect((await use({ city: 'Rome' }))?.id).toBe(grant.id);
    clock.now += 1;
    expect(await use({ city: 'Rome' })).toBeNull();
    expect(grants.view(grant).status).toBe('expired');
  });

  it('serves only calls the policy gates as the grant was approved, and only reaches still offered', async () => {
    const grant = await grantFor({ city: 'Paris' }, 10);
    expect(await use({ city: 'Rome' }, { type: 'totp' })).toBeNull();
    expect(
      await grants.useForCall('bot', {
        tool: 'get_weather',
        arguments: { city: 'Rome' },
        gate: approve,
        sessionId: 's',
        reaches: ['once', 'exact'],
      }),
    ).toBeNull();
    expect((await use({ city: 'Rome' }))?.id).toBe(grant.id);
  });

  it('turns the approval into the grant: the approval itself is consumed, the grant audited', async () => {
    const grant = await grantFor({ city: 'Paris' }, 10);
    expect(
      await approvals.consumeApproval(
        'bot',
        (await store.getApproval(grant.pauseId))!.actionHash,
        approve,
      ),
    ).toBeNull();
    await use({ city: 'Paris' });
    const types = (await store.listAuditEntries()).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['grant.created', 'approval.consumed', 'grant.used']),
    );
  });
});

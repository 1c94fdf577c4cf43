import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApprovalRecord, ApprovalResponse, GateSpec } from '../../core/approval.js';
import { findBrokenAuditEntry } from '../../core/auditChain.js';
import type { GrantRecord } from '../../core/grant.js';
import type { Store } from '../store.js';

/**
 * Opens a fresh, empty store; `reopen` opens the same database again (a restart);
 * `openAnother` opens a second store on the same database with connections of its own (a
 * second server), which `cleanup` closes too.
 */
export interface StoreHarness {
  store: Store;
  reopen(): Promise<Store>;
  openAnother(): Promise<Store>;
  cleanup(): Promise<void>;
}

const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);
/** The per-approver notification limit loopgate uses: 5 a minute. */
const perMinute = { limit: 5, windowMs: 60_000 };

function approval(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: `pa_${randomUUID()}`,
    agentId: 'agent-1',
    status: 'pending',
    actionDescription: 'Send $420 to ACME',
    actionDetails: { amount: '420', to: 'ACME' },
    fields: [{ name: 'ref', label: 'Reference', type: 'string', required: true }],
    recipientEmail: null,
    recipientSlack: '#approvals',
    actionHash: 'a'.repeat(64),
    createdAt: t0,
    expiresAt: t0 + 3_600_000,
    updatedAt: t0,
    response: null,
    receipt: null,
    gate: { type: 'approve' },
    toolName: null,
    consumedAt: null,
    votes: [],
    ...overrides,
  };
}

function response(decision: ApprovalResponse['decision'], responder = 'alice'): ApprovalResponse {
  return {
    pauseId: 'pa_contract',
    actionHash: '0'.repeat(64),
    decision,
    comment: 'ok',
    fields: { ref: 'INV-7' },
    responder,
    respondedAt: t0 + 1_000,
    channel: 'web',
    nonce: randomUUID(),
    signature: 'sha256=00',
  };
}

/** A standing grant as the contract stores it; `overrides` change any field. */
export function grantRecord(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: `gr_${randomUUID()}`,
    pauseId: `pa_${randomUUID()}`,
    agentId: 'agent-1',
    tool: 'get_weather',
    reach: 'tool',
    actionHash: null,
    constraints: { city: '*', days: { lte: 7 } },
    sessionId: null,
    gate: { type: 'approve' },
    grantedBy: 'alice',
    createdAt: t0,
    notAfter: t0 + 3_600_000,
    maxUses: null,
    uses: 0,
    revokedAt: null,
    revokedBy: null,
    receipt: 'eyJ.eyJ.sig',
    ...overrides,
  };
}

const audit = (type: string, requestId: string | null = null) => ({
  type,
  requestId,
  actor: 'test',
  data: {},
});

/**
 * The behaviour every {@link Store} implementation must have. Call it from each
 * implementation's test file with a function that opens a fresh, empty store.
 */
export function describeStoreContract(name: string, open: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      harness = await open();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('keeps an approval exactly as created', async () => {
      const record = approval();
      await store.createApproval(record, audit('approval.created', record.id));
      expect(await store.getApproval(record.id)).toEqual(record);
      expect(await store.getApproval('pa_missing')).toBeNull();
    });

    it('lets exactly one of 1,000 concurrent decisions win', async () => {
      const record = approval();
      await store.createApproval(record, audit('approval.created', record.id));
      const attempts = Array.from({ length: 1_000 }, (_, i) =>
        store.recordDecision(
          record.id,
          {
            response: response(i % 2 ? 'approved' : 'rejected', `op-${i}`),
            receipt: `jws-${i}`,
            now: t0 + 1_000,
          },
          audit('approval.decided', record.id),
        ),
      );
      const results = await Promise.all(attempts);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      const stored = await store.getApproval(record.id);
      expect(stored?.status).toBe('responded');
      expect(stored?.receipt).toBe(`jws-${winner}`);
      expect(stored?.response?.responder).toBe(`op-${winner}`);
      const decidedEntries = (await store.listAuditEntries()).filter(
        (e) => e.type === 'approval.decided',
      );
      expect(decidedEntries).toHaveLength(1);
    });

    describe('two store instances on one database', () => {
      let other: Store;
      beforeEach(async () => {
        other = await harness.openAnother();
      });
      const either = (i: number) => (i % 2 ? other : store);

      it('lets exactly one of 1,000 concurrent decisions win', async () => {
        const record = approval();
        await store.createApproval(record, audit('approval.created', record.id));
        const results = await Promise.all(
          Array.from({ length: 1_000 }, (_, i) =>
            either(i).recordDecision(
              record.id,
              {
                response: response(i % 3 ? 'approved' : 'rejected', `op-${i}`),
                receipt: `jws-${i}`,
                now: t0 + 1_000,
              },
              audit('approval.decided', record.id),
            ),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        for (const reader of [store, other]) {
          const stored = await reader.getApproval(record.id);
          expect(stored?.receipt).toBe(`jws-${winner}`);
          expect(stored?.response?.responder).toBe(`op-${winner}`);
        }
        const entries = await other.listAuditEntries();
        expect(entries.filter((e) => e.type === 'approval.decided')).toHaveLength(1);
        expect(findBrokenAuditEntry(entries)).toBeNull();
      });

      it('lets exactly one of 20 concurrent consumptions of an approval win', async () => {
        const record = approval({ toolName: 'transfer' });
        await store.createApproval(record, audit('approval.created', record.id));
        await other.recordDecision(
          record.id,
          { response: response('approved'), receipt: 'jws', now: t0 + 1_000 },
          audit('approval.decided', record.id),
        );
        const found = await other.findConsumableApproval(
          'agent-1',
          record.actionHash,
          { type: 'approve' },
          t0 + 2_000,
        );
        expect(found?.id).toBe(record.id);
        const wins = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            either(i).consumeApproval(record.id, t0 + 2_000, audit('approval.consumed', record.id)),
          ),
        );
        expect(wins.filter(Boolean)).toHaveLength(1);
        expect(
          await store.findConsumableApproval(
            'agent-1',
            record.actionHash,
            { type: 'approve' },
            t0 + 2_001,
          ),
        ).toBeNull();
        const consumed = (await store.listAuditEntries()).filter(
          (e) => e.type === 'approval.consumed',
        );
        expect(consumed).toHaveLength(1);
      });

      it('accepts one TOTP time step once, however many submissions race', async () => {
        const op = await store.ensureOperator({
          id: 'op_1',
          name: 'admin',
          role: 'admin',
          now: t0,
        });
        await other.saveTotpEnrollment({
          operatorId: op.id,
          secretEncrypted: 'v1.x',
          enrolledAt: t0,
        });
        const step = 58_800_000;
        // What the TOTP gate does: a code is good once per step, never for a step at or before
        // the last one used.
        const accepted = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            either(i).updateTotpState(op.id, (row) =>
              row.state.lastUsedStep !== null && row.state.lastUsedStep >= step
                ? { state: row.state, result: false }
                : { state: { ...row.state, lastUsedStep: step }, result: true },
            ),
          ),
        );
        expect(accepted.filter((a) => a === true)).toHaveLength(1);
        expect((await other.getTotpEnrollment(op.id))?.state.lastUsedStep).toBe(step);
      });

      it('never forks the audit chain when both append at once', async () => {
        const appends = Array.from({ length: 200 }, (_, i) =>
          either(i).appendAudit(audit(`test.event.${i}`), t0 + i),
        );
        const created = Array.from({ length: 20 }, (_, i) => {
          const record = approval();
          return either(i + 1).createApproval(record, audit('approval.created', record.id));
        });
        const entries = await Promise.all(appends);
        await Promise.all(created);
        expect(new Set(entries.map((e) => e.seq)).size).toBe(200);
        const chain = await store.listAuditEntries();
        expect(chain).toHaveLength(220);
        expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: 220 }, (_, i) => i + 1));
        expect(findBrokenAuditEntry(chain)).toBeNull();
        expect(await other.listAuditEntries()).toEqual(chain);
      });

      it('spends one agent’s notification budget once across both', async () => {
        const taken = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            either(i).takeAgentNotification('claude', t0, 3_600_000, 3),
          ),
        );
        expect(taken.filter(Boolean)).toHaveLength(3);
      });

      it('lets 5 of 20 concurrent notifications to one approver through across both, and holds 15', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            either(i).admitNotification('slack:#approvals', `pa_${i}`, t0, perMinute),
          ),
        );
        expect(results.filter((r) => r.kind === 'send')).toHaveLength(5);
        expect(results.filter((r) => r.kind === 'held')).toHaveLength(15);
        // The window is full for both stores: the next one is held too, on either.
        expect(
          await other.admitNotification('slack:#approvals', 'pa_x', t0 + 1, perMinute),
        ).toEqual({ kind: 'held', dueAt: t0 + 60_000 });
        expect(await store.nextDigestDueAt(t0 + 1, perMinute)).toBe(t0 + 60_000);
      });

      it('hands each held item to exactly one of two digest flushers', async () => {
        for (const [i, recipient] of ['email:a@example.com', 'email:b@example.com'].entries()) {
          for (let n = 0; n < 5; n += 1) {
            await store.admitNotification(recipient, `pa_${i}_sent_${n}`, t0, perMinute);
          }
          for (let n = 0; n < 10; n += 1) {
            await either(n).admitNotification(recipient, `pa_${i}_${n}`, t0, perMinute);
          }
        }
        const flushes = await Promise.all(
          Array.from({ length: 10 }, (_, i) => either(i).takeDueDigests(t0 + 60_000, perMinute)),
        );
        const digests = flushes.flat();
        expect(digests.map((d) => d.recipient).sort()).toEqual([
          'email:a@example.com',
          'email:b@example.com',
        ]);
        for (const digest of digests) {
          const i = digest.recipient === 'email:a@example.com' ? 0 : 1;
          expect(digest.pauseIds).toEqual(Array.from({ length: 10 }, (_, n) => `pa_${i}_${n}`));
        }
        expect(await other.takeDueDigests(t0 + 3_600_000, perMinute)).toEqual([]);
        expect(await store.nextDigestDueAt(t0 + 60_000, perMinute)).toBeNull();
      });
    });

    it('reports itself ready: the database answers and every migration ran', async () => {
      expect(await store.checkReadiness()).toMatchObject({ ok: true });
    });

    it('refuses to decide a request after it expired, and a cancelled one', async () => {
      const late = approval();
      await store.createApproval(late, audit('approval.created', late.id));
      const decided = await store.recordDecision(
        late.id,
        { response: response('approved'), receipt: 'jws', now: late.expiresAt },
        audit('approval.decided', late.id),
      );
      expect(decided).toBe(false);
      expect((await store.getApproval(late.id))?.status).toBe('pending');

      const cancelled = approval();
      await store.createApproval(cancelled, audit('approval.created', cancelled.id));
      expect(
        await store.cancelApproval(
          cancelled.id,
          t0 + 10,
          audit('approval.cancelled', cancelled.id),
        ),
      ).toBe(true);
      expect(
        await store.cancelApproval(
          cancelled.id,
          t0 + 20,
          audit('approval.cancelled', cancelled.id),
        ),
      ).toBe(false);
      expect(
        await store.recordDecision(
          cancelled.id,
          { response: response('approved'), receipt: 'jws', now: t0 + 30 },
          audit('approval.decided', cancelled.id),
        ),
      ).toBe(false);
      expect((await store.getApproval(cancelled.id))?.status).toBe('expired');
    });

    it('marks due requests timed_out once, and reports the next expiry', async () => {
      const soon = approval({ expiresAt: t0 + 1_000 });
      const later = approval({ expiresAt: t0 + 5_000 });
      await store.createApproval(soon, audit('approval.created', soon.id));
      await store.createApproval(later, audit('approval.created', later.id));
      expect(await store.nextApprovalExpiry()).toBe(t0 + 1_000);
      expect(await store.expireDueApprovals(t0 + 999)).toEqual([]);
      expect(await store.expireDueApprovals(t0 + 1_000)).toEqual([soon.id]);
      expect(await store.expireDueApprovals(t0 + 1_000)).toEqual([]);
      expect((await store.getApproval(soon.id))?.status).toBe('timed_out');
      expect(await store.nextApprovalExpiry()).toBe(t0 + 5_000);
    });

    it('lists pending and decided requests newest first, per agent', async () => {
      const a = approval({ createdAt: t0, agentId: 'a' });
      const b = approval({ createdAt: t0 + 1, agentId: 'b' });
      const c = approval({ createdAt: t0 + 2, agentId: 'a' });
      for (const r of [a, b, c]) await store.createApproval(r, audit('approval.created', r.id));
      await store.cancelApproval(b.id, t0 + 5, audit('approval.cancelled', b.id));
      expect((await store.listApprovals({ limit: 10 })).map((r) => r.id)).toEqual([
        c.id,
        b.id,
        a.id,
      ]);
      expect(
        (await store.listApprovals({ status: 'pending', limit: 10 })).map((r) => r.id),
      ).toEqual([c.id, a.id]);
      expect(
        (await store.listApprovals({ status: 'decided', limit: 10 })).map((r) => r.id),
      ).toEqual([b.id]);
      expect((await store.listApprovals({ agentId: 'a', limit: 1 })).map((r) => r.id)).toEqual([
        c.id,
      ]);
    });

    it('keeps pending requests across a restart', async () => {
      const record = approval();
      await store.createApproval(record, audit('approval.created', record.id));
      store = await harness.reopen();
      expect(await store.getApproval(record.id)).toEqual(record);
    });

    it('finds agent keys by hash until revoked', async () => {
      await store.createAgentKey({
        id: 'key_1',
        name: 'claude',
        scope: 'agent',
        keyHash: 'h1',
        prefix: 'lg_abcd',
        createdAt: t0,
        revokedAt: null,
        lastUsedAt: null,
      });
      const found = await store.findAgentKeyByHash('h1', t0 + 5);
      expect(found?.name).toBe('claude');
      expect(found?.lastUsedAt).toBe(t0 + 5);
      expect(await store.findAgentKeyByHash('h2', t0)).toBeNull();
      expect(await store.revokeAgentKey('key_1', t0 + 10)).toBe(true);
      expect(await store.revokeAgentKey('key_1', t0 + 11)).toBe(false);
      expect(await store.findAgentKeyByHash('h1', t0 + 12)).toBeNull();
      expect((await store.listAgentKeys())[0]?.revokedAt).toBe(t0 + 10);
    });

    it('keeps each agent key’s scope', async () => {
      const base = { prefix: 'lg_x', createdAt: t0, revokedAt: null, lastUsedAt: null };
      await store.createAgentKey({
        ...base,
        id: 'key_a',
        name: 'claude',
        scope: 'agent',
        keyHash: 'ha',
      });
      await store.createAgentKey({
        ...base,
        id: 'key_g',
        name: 'proxy',
        scope: 'gateway',
        keyHash: 'hg',
      });
      expect((await store.findAgentKeyByHash('ha', t0))?.scope).toBe('agent');
      expect((await store.findAgentKeyByHash('hg', t0))?.scope).toBe('gateway');
      store = await harness.reopen();
      expect((await store.listAgentKeys()).map((k) => [k.id, k.scope])).toEqual([
        ['key_a', 'agent'],
        ['key_g', 'gateway'],
      ]);
    });

    it('uses a sign-in token once, and never after it expires', async () => {
      const op = await store.ensureOperator({ id: 'op_1', name: 'admin', role: 'admin', now: t0 });
      expect(
        await store.ensureOperator({ id: 'op_2', name: 'admin', role: 'admin', now: t0 }),
      ).toEqual(op);
      await store.createLoginToken({
        tokenHash: 't1',
        operatorId: op.id,
        expiresAt: t0 + 900_000,
        now: t0,
      });
      await store.createLoginToken({
        tokenHash: 't2',
        operatorId: op.id,
        expiresAt: t0 + 900_000,
        now: t0,
      });
      expect(await store.consumeLoginToken('t1', t0 + 1)).toEqual({
        ok: true,
        operatorId: op.id,
        source: 'login',
      });
      expect(await store.consumeLoginToken('t1', t0 + 2)).toEqual({ ok: false, reason: 'used' });
      expect(await store.consumeLoginToken('t2', t0 + 900_000)).toEqual({
        ok: false,
        reason: 'expired',
      });
      expect(await store.consumeLoginToken('nope', t0)).toEqual({ ok: false, reason: 'unknown' });
    });

    it('remembers whether a sign-in link, and the session made from it, came from an invite', async () => {
      const op = await store.ensureOperator({ id: 'op_1', name: 'admin', role: 'admin', now: t0 });
      await store.createLoginToken({
        tokenHash: 'inv',
        operatorId: op.id,
        expiresAt: t0 + 900_000,
        now: t0,
        source: 'invite',
      });
      await store.createLoginToken({
        tokenHash: 'enr',
        operatorId: op.id,
        expiresAt: t0 + 900_000,
        now: t0,
        source: 'enroll',
      });
      expect(await store.consumeLoginToken('inv', t0 + 1)).toEqual({
        ok: true,
        operatorId: op.id,
        source: 'invite',
      });
      expect(await store.consumeLoginToken('enr', t0 + 1)).toEqual({
        ok: true,
        operatorId: op.id,
        source: 'enroll',
      });
      await store.createSession({
        idHash: 's-inv',
        operatorId: op.id,
        csrfToken: 'c',
        createdAt: t0,
        expiresAt: t0 + 100,
        source: 'invite',
      });
      await store.createSession({
        idHash: 's-login',
        operatorId: op.id,
        csrfToken: 'c',
        createdAt: t0,
        expiresAt: t0 + 100,
        source: 'login',
      });
      expect((await store.getSession('s-inv', t0 + 1))?.source).toBe('invite');
      expect((await store.getSession('s-login', t0 + 1))?.source).toBe('login');
    });

    it('ends sessions at their expiry and on delete', async () => {
      const op = await store.ensureOperator({ id: 'op_1', name: 'admin', role: 'admin', now: t0 });
      await store.createSession({
        idHash: 's1',
        operatorId: op.id,
        csrfToken: 'c',
        createdAt: t0,
        expiresAt: t0 + 100,
        source: 'login',
      });
      expect((await store.getSession('s1', t0 + 99))?.operatorId).toBe(op.id);
      expect(await store.getSessionWithOperator('s1', t0 + 99)).toEqual({
        session: await store.getSession('s1', t0 + 99),
        operator: op,
      });
      expect(await store.getSession('s1', t0 + 100)).toBeNull();
      expect(await store.getSessionWithOperator('s1', t0 + 100)).toBeNull();
      expect(await store.getSessionWithOperator('unknown', t0 + 1)).toBeNull();
      await store.createSession({
        idHash: 's2',
        operatorId: op.id,
        csrfToken: 'c',
        createdAt: t0,
        expiresAt: t0 + 100,
        source: 'login',
      });
      await store.deleteSession('s2');
      expect(await store.getSession('s2', t0 + 1)).toBeNull();
    });

    it('keeps gate, tool and quorum votes, and refuses votes once decided or expired', async () => {
      const record = approval({
        gate: { type: 'quorum', quorum: { n: 2, approvers: ['a', 'b'], stepUp: 'totp' } },
        toolName: 'transfer',
      });
      await store.createApproval(record, audit('approval.created', record.id));
      expect(await store.getApproval(record.id)).toEqual(record);
      const vote = { operator: 'a', decision: 'approved' as const, comment: '', at: t0 + 1 };
      const afterVote = await store.addQuorumVote(
        record.id,
        vote,
        t0 + 1,
        audit('approval.vote', record.id),
      );
      expect(afterVote?.votes).toEqual([vote]);
      expect((await store.getApproval(record.id))?.votes).toEqual([vote]);
      expect(
        await store.addQuorumVote(
          record.id,
          vote,
          record.expiresAt,
          audit('approval.vote', record.id),
        ),
      ).toBeNull();
      await store.cancelApproval(record.id, t0 + 2, audit('approval.cancelled', record.id));
      expect(
        await store.addQuorumVote(
          record.id,
          { ...vote, operator: 'b' },
          t0 + 3,
          audit('approval.vote', record.id),
        ),
      ).toBeNull();
    });

    it('finds an approved decision for exactly one action hash and consumes it once', async () => {
      const hash = 'f'.repeat(64);
      const approved = approval({ actionHash: hash, toolName: 'get_weather' });
      const rejected = approval({ actionHash: hash, toolName: 'get_weather', createdAt: t0 + 10 });
      for (const r of [approved, rejected])
        await store.createApproval(r, audit('approval.created', r.id));
      const gate: GateSpec = { type: 'approve' };
      expect(await store.findConsumableApproval('agent-1', hash, gate, t0 + 100)).toBeNull();
      expect((await store.findPendingApproval('agent-1', hash, gate, t0 + 100))?.id).toBe(
        rejected.id,
      );
      expect(await store.findPendingApproval('agent-2', hash, gate, t0 + 100)).toBeNull();
      await store.recordDecision(
        approved.id,
        { response: response('approved'), receipt: 'jws', now: t0 + 20 },
        audit('approval.decided', approved.id),
      );
      await store.recordDecision(
        rejected.id,
        { response: response('rejected'), receipt: 'jws', now: t0 + 20 },
        audit('approval.decided', rejected.id),
      );
      expect((await store.findConsumableApproval('agent-1', hash, gate, t0 + 100))?.id).toBe(
        approved.id,
      );
      expect(await store.findConsumableApproval('agent-2', hash, gate, t0 + 100)).toBeNull();
      expect(
        await store.findConsumableApproval('agent-1', 'e'.repeat(64), gate, t0 + 100),
      ).toBeNull();
      expect(
        await store.findConsumableApproval('agent-1', hash, gate, approved.expiresAt),
      ).toBeNull();
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          store.consumeApproval(approved.id, t0 + 200, audit('approval.consumed', approved.id)),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getApproval(approved.id))?.consumedAt).toBe(t0 + 200);
      expect(await store.findConsumableApproval('agent-1', hash, gate, t0 + 300)).toBeNull();
      expect(
        await store.consumeApproval(rejected.id, t0 + 300, audit('approval.consumed', rejected.id)),
      ).toBe(false);
    });

    it('keeps a gated call’s edit constraints, and binds an edited approval to the edited hash only', async () => {
      const asked = 'a'.repeat(64);
      const edited = 'b'.repeat(64);
      const editConstraints = {
        inputSchema: { type: 'object', properties: { amount: { type: 'number' } } },
        policyText: 'rules:\n  - tool: pay\n    gate: approve\n',
        policySource: 'policy.yaml',
        agent: { name: 'agent-1', keyId: null },
        readOnly: false,
      };
      const record = approval({
        actionHash: asked,
        actionDetails: { amount: 500 },
        toolName: 'pay',
        editConstraints,
      });
      await store.createApproval(record, audit('approval.created', record.id));
      expect((await store.getApproval(record.id))?.editConstraints).toEqual(editConstraints);
      const edit = {
        originalActionHash: asked,
        originalArguments: { amount: 500 },
        changes: [{ path: 'amount', from: 500, to: 50 }],
      };
      expect(
        await store.recordDecision(
          record.id,
          {
            response: response('approved'),
            receipt: 'jws',
            now: t0 + 20,
            edited: { actionHash: edited, actionDetails: { amount: 50 }, edit },
          },
          audit('approval.decided', record.id),
        ),
      ).toBe(true);
      const stored = await store.getApproval(record.id);
      expect(stored).toMatchObject({ actionHash: edited, actionDetails: { amount: 50 }, edit });
      const gate: GateSpec = { type: 'approve' };
      expect(await store.findConsumableApproval('agent-1', asked, gate, t0 + 100)).toBeNull();
      expect((await store.findConsumableApproval('agent-1', edited, gate, t0 + 100))?.id).toBe(
        record.id,
      );
      const plain = approval();
      await store.createApproval(plain, audit('approval.created', plain.id));
      const read = await store.getApproval(plain.id);
      expect(read?.edit ?? null).toBeNull();
      expect(read?.editConstraints ?? null).toBeNull();
    });

    it('never finds a request made under another gate than the one asked for', async () => {
      const hash = 'b'.repeat(64);
      const totp: GateSpec = { type: 'totp' };
      const quorum: GateSpec = {
        type: 'quorum',
        quorum: { n: 2, approvers: ['alice', 'bob'], stepUp: 'none' },
      };
      const plain = approval({ actionHash: hash, toolName: 'transfer', gate: { type: 'approve' } });
      const voting = approval({
        actionHash: hash,
        toolName: 'transfer',
        gate: quorum,
        createdAt: t0 + 5,
      });
      for (const r of [plain, voting])
        await store.createApproval(r, audit('approval.created', r.id));
      expect(await store.findPendingApproval('agent-1', hash, totp, t0 + 100)).toBeNull();
      expect(
        (await store.findPendingApproval('agent-1', hash, { type: 'approve' }, t0 + 100))?.id,
      ).toBe(plain.id);
      const reordered: GateSpec = {
        type: 'quorum',
        quorum: { n: 2, approvers: ['bob', 'alice'], stepUp: 'none' },
      };
      expect((await store.findPendingApproval('agent-1', hash, reordered, t0 + 100))?.id).toBe(
        voting.id,
      );
      const oneOfTwo: GateSpec = {
        type: 'quorum',
        quorum: { n: 1, approvers: ['alice', 'bob'], stepUp: 'none' },
      };
      expect(await store.findPendingApproval('agent-1', hash, oneOfTwo, t0 + 100)).toBeNull();
      await store.recordDecision(
        plain.id,
        { response: response('approved'), receipt: 'jws', now: t0 + 20 },
        audit('approval.decided', plain.id),
      );
      expect(await store.findConsumableApproval('agent-1', hash, totp, t0 + 100)).toBeNull();
      expect(await store.findConsumableApproval('agent-1', hash, quorum, t0 + 100)).toBeNull();
      expect(
        (await store.findConsumableApproval('agent-1', hash, { type: 'approve' }, t0 + 100))?.id,
      ).toBe(plain.id);
    });

    it('keeps each caller’s otp argument throttle apart, in one transaction per attempt', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          store.updateOtpArgumentThrottle('key:a', (state) => ({
            state: {
              consecutiveFailures: state.consecutiveFailures + 1,
              blockedUntil: t0 + 60_000,
            },
            result: state.consecutiveFailures,
          })),
        ),
      );
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      store = await harness.reopen();
      const read = (subject: string) =>
        store.updateOtpArgumentThrottle(subject, (state) => ({ state, result: state }));
      expect(await read('key:a')).toEqual({ consecutiveFailures: 12, blockedUntil: t0 + 60_000 });
      expect(await read('key:b')).toEqual({ consecutiveFailures: 0, blockedUntil: null });
    });

    it('updates TOTP state in one transaction per attempt, and keeps the last step and a lock on re-enrolment', async () => {
      const op = await store.ensureOperator({ id: 'op_1', name: 'admin', role: 'admin', now: t0 });
      expect(
        await store.updateTotpState(op.id, (row) => ({ state: row.state, result: 1 })),
      ).toBeNull();
      await store.saveTotpEnrollment({
        operatorId: op.id,
        secretEncrypted: 'v1.x',
        enrolledAt: t0,
      });
      expect((await store.getTotpEnrollment(op.id))?.state).toEqual({
        consecutiveFailures: 0,
        failuresOnRequest: 0,
        lockedAt: null,
        lastUsedStep: null,
      });
      // Each update sees the state the previous one wrote, even when started together.
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.updateTotpState(op.id, (row) => ({
            state: {
              ...row.state,
              consecutiveFailures: row.state.consecutiveFailures + 1,
              lastUsedStep: 7,
            },
            result: row.state.consecutiveFailures,
          })),
        ),
      );
      expect([...results].sort((a, b) => a! - b!)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      await store.saveTotpEnrollment({
        operatorId: op.id,
        secretEncrypted: 'v1.y',
        enrolledAt: t0 + 5,
      });
      expect(await store.getTotpEnrollment(op.id)).toEqual({
        operatorId: op.id,
        secretEncrypted: 'v1.y',
        enrolledAt: t0 + 5,
        state: { consecutiveFailures: 0, failuresOnRequest: 0, lockedAt: null, lastUsedStep: 7 },
      });
      await store.updateTotpState(op.id, (row) => ({
        state: { ...row.state, consecutiveFailures: 10, lockedAt: t0 + 6 },
        result: null,
      }));
      await store.saveTotpEnrollment({
        operatorId: op.id,
        secretEncrypted: 'v1.z',
        enrolledAt: t0 + 7,
      });
      expect((await store.getTotpEnrollment(op.id))?.state).toEqual({
        consecutiveFailures: 0,
        failuresOnRequest: 0,
        lockedAt: t0 + 6,
        lastUsedStep: 7,
      });
    });

    it('keeps passkeys, refuses a sign counter that does not grow, and uses challenges once', async () => {
      const op = await store.ensureOperator({ id: 'op_1', name: 'admin', role: 'admin', now: t0 });
      const other = await store.ensureOperator({
        id: 'op_2',
        name: 'bob',
        role: 'approver',
        now: t0,
      });
      const credential = {
        id: 'cred-1',
        operatorId: op.id,
        publicKey: new Uint8Array([1, 2, 3]),
        counter: 5,
        transports: ['internal'],
        name: 'laptop',
        createdAt: t0,
        lastUsedAt: null,
        flaggedAt: null,
      };
      await store.saveWebAuthnCredential(credential);
      expect(await store.getWebAuthnCredential('cred-1')).toEqual(credential);
      expect(await store.listWebAuthnCredentials(other.id)).toEqual([]);
      expect(await store.updateWebAuthnCounter('cred-1', 5, t0 + 1)).toBe(false);
      expect(await store.updateWebAuthnCounter('cred-1', 6, t0 + 1)).toBe(true);
      expect(await store.updateWebAuthnCounter('cred-1', 4, t0 + 2)).toBe(false);
      await store.flagWebAuthnCredential('cred-1', t0 + 3);
      expect((await store.getWebAuthnCredential('cred-1'))?.flaggedAt).toBe(t0 + 3);
      expect(await store.updateWebAuthnCounter('cred-1', 9, t0 + 4)).toBe(false);

      const challenge = {
        challenge: 'c1',
        operatorId: op.id,
        purpose: 'authentication' as const,
        requestId: 'pa_1',
        expiresAt: t0 + 300_000,
      };
      await store.createWebAuthnChallenge(challenge);
      expect(
        await store.consumeWebAuthnChallenge('c1', other.id, 'authentication', t0 + 1),
      ).toBeNull();
      expect(
        await store.consumeWebAuthnChallenge('c1', op.id, 'authentication', t0 + 1),
      ).toBeNull(); // spent by the wrong try
      await store.createWebAuthnChallenge({ ...challenge, challenge: 'c2' });
      expect(await store.consumeWebAuthnChallenge('c2', op.id, 'authentication', t0 + 1)).toEqual({
        ...challenge,
        challenge: 'c2',
      });
      expect(
        await store.consumeWebAuthnChallenge('c2', op.id, 'authentication', t0 + 2),
      ).toBeNull();
      await store.createWebAuthnChallenge({ ...challenge, challenge: 'c3' });
      expect(
        await store.consumeWebAuthnChallenge('c3', op.id, 'authentication', t0 + 300_000),
      ).toBeNull();
      expect(await store.consumeWebAuthnChallenge('c4', op.id, 'registration', t0)).toBeNull();
    });

    it('chains every state change into an intact audit log', async () => {
      const record = approval();
      await store.createApproval(record, audit('approval.created', record.id));
      await store.recordDecision(
        record.id,
        { response: response('approved'), receipt: 'jws', now: t0 + 1_000 },
        audit('approval.decided', record.id),
      );
      await store.appendAudit(audit('operator.signed_in'), t0 + 2_000);
      const entries = await store.listAuditEntries();
      expect(entries.map((e) => e.type)).toEqual([
        'approval.created',
        'approval.decided',
        'operator.signed_in',
      ]);
      expect(findBrokenAuditEntry(entries)).toBeNull();
      expect(findBrokenAuditEntry(entries.filter((e) => e.seq !== 2))).toMatchObject({ seq: 3 });
      const edited = entries.map((e) => (e.seq === 2 ? { ...e, actor: 'mallory' } : e));
      expect(findBrokenAuditEntry(edited)).toMatchObject({ seq: 2 });
    });

    it('links Slack users and email addresses to operators, one of each per operator', async () => {
      const alice = await store.ensureOperator({
        id: 'op_a',
        name: 'alice',
        role: 'approver',
        now: t0,
      });
      const bob = await store.ensureOperator({
        id: 'op_b',
        name: 'bob',
        role: 'approver',
        now: t0,
      });
      await store.linkOperatorContact({
        operatorId: alice.id,
        kind: 'slack',
        value: 'U0ALICE1',
        now: t0,
      });
      expect(await store.findOperatorByContact('slack', 'U0ALICE1')).toEqual(alice);
      expect(await store.findOperatorByContact('email', 'U0ALICE1')).toBeNull();
      expect(await store.getOperatorContact(alice.id, 'slack')).toBe('U0ALICE1');
      // Relinking moves the link: the old Slack user no longer decides as alice.
      await store.linkOperatorContact({
        operatorId: alice.id,
        kind: 'slack',
        value: 'U0ALICE2',
        now: t0 + 1,
      });
      expect(await store.findOperatorByContact('slack', 'U0ALICE1')).toBeNull();
      // A value linked to another operator moves to the new one.
      await store.linkOperatorContact({
        operatorId: bob.id,
        kind: 'slack',
        value: 'U0ALICE2',
        now: t0 + 2,
      });
      expect(await store.findOperatorByContact('slack', 'U0ALICE2')).toEqual(bob);
      expect(await store.getOperatorContact(alice.id, 'slack')).toBeNull();
      await store.linkOperatorContact({
        operatorId: alice.id,
        kind: 'email',
        value: 'alice@example.com',
        now: t0,
      });
      expect(await store.findOperatorByContact('email', 'alice@example.com')).toEqual(alice);
    });

    it('processes each Slack payload id once, and forgets ids after an hour', async () => {
      expect(await store.recordSlackPayload('sha256:aa', t0)).toBe(true);
      expect(await store.recordSlackPayload('sha256:aa', t0 + 299_000)).toBe(false);
      expect(await store.recordSlackPayload('sha256:bb', t0 + 3_600_001)).toBe(true);
      expect(await store.recordSlackPayload('sha256:aa', t0 + 3_600_002)).toBe(true);
    });

    it('counts each agent’s notifications in a sliding window and never overspends', async () => {
      const hour = 3_600_000;
      const taken = await Promise.all(
        Array.from({ length: 5 }, () => store.takeAgentNotification('claude', t0, hour, 3)),
      );
      expect(taken.filter(Boolean)).toHaveLength(3);
      expect(await store.takeAgentNotification('claude', t0 + hour - 1, hour, 3)).toBe(false);
      // Another agent has its own budget.
      expect(await store.takeAgentNotification('cursor', t0, hour, 3)).toBe(true);
      // Once the first three leave the window, three more go out.
      expect(await store.takeAgentNotification('claude', t0 + hour, hour, 3)).toBe(true);
      expect(await store.takeAgentNotification('claude', t0 + hour, hour, 0)).toBe(false);
    });

    it('uses an email confirm token once and only before it expires', async () => {
      const record = approval();
      await store.createApproval(record, audit('approval.created', record.id));
      const token = {
        tokenHash: 'h1',
        pauseId: record.id,
        recipient: 'bob@example.com',
        createdAt: t0,
        expiresAt: t0 + 60_000,
        usedAt: null,
      };
      await store.createEmailConfirmToken(token);
      await store.createEmailConfirmToken({ ...token, tokenHash: 'h2' });
      expect(await store.findEmailConfirmToken('h1')).toEqual(token);
      expect(await store.findEmailConfirmToken('nope')).toBeNull();
      const wins = await Promise.all(
        Array.from({ length: 20 }, () => store.consumeEmailConfirmToken('h1', t0 + 1)),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect((await store.findEmailConfirmToken('h1'))?.usedAt).toBe(t0 + 1);
      expect(await store.consumeEmailConfirmToken('h2', t0 + 60_000)).toBe(false);
      expect(await store.consumeEmailConfirmToken('nope', t0)).toBe(false);
    });

    it('keeps notification deliveries and lists failures newest first', async () => {
      const base = {
        pauseId: 'pa_1',
        channel: 'slack' as const,
        kind: 'created',
        recipient: '#approvals',
        ref: null,
        errorCode: null,
        errorMessage: null,
      };
      await store.recordNotificationDelivery({
        ...base,
        id: 'nd_1',
        status: 'sent',
        ref: 'C1:1.2',
        at: t0,
      });
      await store.recordNotificationDelivery({
        ...base,
        id: 'nd_2',
        status: 'failed',
        errorCode: 'E_SLACK_API_ERROR',
        errorMessage: 'channel_not_found',
        at: t0 + 1,
      });
      await store.recordNotificationDelivery({
        ...base,
        id: 'nd_3',
        pauseId: 'pa_2',
        channel: 'email',
        recipient: 'b@example.com',
        status: 'failed',
        errorCode: 'E_EMAIL_SEND_FAILED',
        errorMessage: 'refused',
        at: t0 + 2,
      });
      expect(
        (await store.listNotificationDeliveries({ pauseId: 'pa_1', limit: 10 })).map((d) => d.id),
      ).toEqual(['nd_2', 'nd_1']);
      expect(
        (await store.listNotificationDeliveries({ status: 'failed', limit: 10 })).map((d) => d.id),
      ).toEqual(['nd_3', 'nd_2']);
      expect((await store.listNotificationDeliveries({ pauseId: 'pa_1', limit: 10 }))[1]).toEqual({
        ...base,
        id: 'nd_1',
        status: 'sent',
        ref: 'C1:1.2',
        at: t0,
      });
    });

    it('keeps webhook endpoints and the state of their messages across a restart', async () => {
      const endpoint = {
        id: 'wh_1',
        url: 'https://example.com/hook',
        secret: 'whsec_x',
        events: ['request.created'],
        createdAt: t0,
        disabledAt: null,
      };
      await store.createWebhookEndpoint(endpoint);
      await store.createWebhookEndpoint({ ...endpoint, id: 'wh_2', createdAt: t0 + 1 });
      const message = {
        msgId: 'msg_1',
        endpointId: 'wh_1',
        eventType: 'request.created',
        event: {
          id: 'msg_1',
          type: 'request.created',
          timestamp: new Date(t0).toISOString(),
          data: { pause_id: 'pa_1' },
        },
        status: 'pending' as const,
        attempts: 1,
        firstAttemptAt: t0,
        nextAttemptAt: t0 + 5_000,
        lastStatus: 500,
        lastError: 'HTTP 500',
        updatedAt: t0,
      };
      await store.saveWebhookMessage(message);
      await store.saveWebhookMessage({
        ...message,
        endpointId: 'wh_2',
        status: 'delivered',
        nextAttemptAt: null,
        lastStatus: 204,
        lastError: null,
      });
      store = await harness.reopen();
      expect(await store.listWebhookEndpoints()).toEqual([
        endpoint,
        { ...endpoint, id: 'wh_2', createdAt: t0 + 1 },
      ]);
      expect(await store.listDueWebhookMessages(t0 + 4_999, 10)).toEqual([]);
      expect(await store.listDueWebhookMessages(t0 + 5_000, 10)).toEqual([message]);
      expect(await store.nextWebhookAttemptAt()).toBe(t0 + 5_000);
      await store.saveWebhookMessage({
        ...message,
        attempts: 2,
        status: 'failed',
        nextAttemptAt: null,
        updatedAt: t0 + 9,
      });
      expect(await store.nextWebhookAttemptAt()).toBeNull();
      expect(
        (await store.listWebhookMessages({ status: 'failed', limit: 10 })).map((m) => [
          m.endpointId,
          m.attempts,
        ]),
      ).toEqual([['wh_1', 2]]);
      await store.disableWebhookEndpoint('wh_2', t0 + 10);
      expect((await store.getWebhookEndpoint('wh_2'))?.disabledAt).toBe(t0 + 10);
      expect(await store.removeWebhookEndpoint('wh_1')).toBe(true);
      expect(await store.removeWebhookEndpoint('wh_1')).toBe(false);
      expect(await store.getWebhookEndpoint('wh_1')).toBeNull();
      expect((await store.listWebhookMessages({ limit: 10 })).map((m) => m.endpointId)).toEqual([
        'wh_2',
      ]);
    });

    it('lets one of many concurrent claims of a task win, once and for good', async () => {
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.claimTask('notify:reminder:pa_1', t0 + i, t0 + 7_200_000),
        ),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.claimTask('notify:fallback:pa_1', t0, t0 + 7_200_000)).toBe(true);
      store = await harness.reopen();
      expect(await store.claimTask('notify:reminder:pa_1', t0 + 3_600_000, t0 + 7_200_000)).toBe(
        false,
      );
    });

    it('purges task claims kept until before the given time, and only those', async () => {
      expect(await store.claimTask('event-ticket:a', t0, t0 + 60_000)).toBe(true);
      expect(await store.claimTask('event-ticket:b', t0, t0 + 120_000)).toBe(true);
      expect(await store.claimTask('notify:reminder:pa_1', t0, t0 + 3_600_000)).toBe(true);
      expect(await store.purgeTaskClaims(t0 + 60_000)).toBe(0);
      expect(await store.claimTask('event-ticket:a', t0 + 1, t0 + 60_000)).toBe(false);
      expect(await store.purgeTaskClaims(t0 + 120_001)).toBe(2);
      // Forgotten claims can be taken again; the one still kept cannot.
      expect(await store.claimTask('event-ticket:a', t0 + 2, t0 + 60_000)).toBe(true);
      expect(await store.claimTask('event-ticket:b', t0 + 2, t0 + 120_000)).toBe(true);
      expect(await store.claimTask('notify:reminder:pa_1', t0 + 2, t0 + 3_600_000)).toBe(false);
    });

    it('says whether a task was claimed, until its claim is purged', async () => {
      expect(await store.hasTaskClaim('mcp-task-cancel:a')).toBe(false);
      expect(await store.claimTask('mcp-task-cancel:a', t0, t0 + 60_000)).toBe(true);
      expect(await store.hasTaskClaim('mcp-task-cancel:a')).toBe(true);
      expect(await store.hasTaskClaim('mcp-task-cancel:b')).toBe(false);
      await store.purgeTaskClaims(t0 + 60_001);
      expect(await store.hasTaskClaim('mcp-task-cancel:a')).toBe(false);
    });

    it('lets 5 notifications a minute through per approver and holds the rest for one digest', async () => {
      const results = [];
      for (let i = 0; i < 8; i += 1) {
        results.push(
          await store.admitNotification('slack:#approvals', `pa_${i}`, t0 + i, perMinute),
        );
      }
      expect(results.slice(0, 5).every((r) => r.kind === 'send')).toBe(true);
      // The window frees up when the first of the five sends leaves it.
      expect(results.slice(5)).toEqual([
        { kind: 'held', dueAt: t0 + 60_000 },
        { kind: 'held', dueAt: t0 + 60_000 },
        { kind: 'held', dueAt: t0 + 60_000 },
      ]);
      expect(await store.admitNotification('slack:U0BOB', 'pa_b', t0 + 8, perMinute)).toEqual({
        kind: 'send',
      });
      // Held again: still one entry.
      await store.admitNotification('slack:#approvals', 'pa_6', t0 + 9, perMinute);
      expect(await store.nextDigestDueAt(t0 + 10, perMinute)).toBe(t0 + 60_000);
      expect(await store.takeDueDigests(t0 + 59_999, perMinute)).toEqual([]);
      expect(await store.takeDueDigests(t0 + 60_000, perMinute)).toEqual([
        { recipient: 'slack:#approvals', pauseIds: ['pa_5', 'pa_6', 'pa_7'] },
      ]);
      expect(await store.nextDigestDueAt(t0 + 60_000, perMinute)).toBeNull();
      // The digest counted as a notification: the window is full again until t0 + 60_001.
      expect(
        await store.admitNotification('slack:#approvals', 'pa_9', t0 + 60_000, perMinute),
      ).toEqual({ kind: 'held', dueAt: t0 + 60_001 });
    });

    it('holds new notifications behind a pending digest, and drops discarded ones from it', async () => {
      for (let i = 0; i < 7; i += 1) {
        await store.admitNotification('email:bob@example.com', `pa_${i}`, t0, perMinute);
      }
      await store.discardHeldNotification('pa_5');
      // A free slot, but a digest is pending: the new one joins it.
      expect(
        await store.admitNotification('email:bob@example.com', 'pa_new', t0 + 61_000, perMinute),
      ).toEqual({ kind: 'held', dueAt: t0 + 61_000 });
      expect(await store.takeDueDigests(t0 + 61_000, perMinute)).toEqual([
        { recipient: 'email:bob@example.com', pauseIds: ['pa_6', 'pa_new'] },
      ]);
      for (let i = 0; i < 5; i += 1) {
        await store.admitNotification('email:carol@example.com', `pc_${i}`, t0, perMinute);
      }
      await store.admitNotification('email:carol@example.com', 'pc_5', t0, perMinute);
      await store.discardHeldNotification('pc_5');
      expect(await store.nextDigestDueAt(t0, perMinute)).toBeNull();
    });

    it('keeps held notifications and the count across a restart', async () => {
      for (let i = 0; i < 7; i += 1) {
        await store.admitNotification('slack:#approvals', `pa_${i}`, t0, perMinute);
      }
      store = await harness.reopen();
      expect(await store.admitNotification('slack:#approvals', 'pa_7', t0 + 1, perMinute)).toEqual({
        kind: 'held',
        dueAt: t0 + 60_000,
      });
      expect(await store.nextDigestDueAt(t0 + 1, perMinute)).toBe(t0 + 60_000);
      expect(await store.takeDueDigests(t0 + 60_000, perMinute)).toEqual([
        { recipient: 'slack:#approvals', pauseIds: ['pa_5', 'pa_6', 'pa_7'] },
      ]);
    });

    it('sends at most 5 notifications in any minute for 300 requests over a minute, losing none', async () => {
      const sentAt: number[] = [];
      const covered = new Set<string>();
      const flush = async (now: number) => {
        for (const digest of await store.takeDueDigests(now, perMinute)) {
          sentAt.push(now);
          digest.pauseIds.forEach((id) => covered.add(id));
        }
      };
      for (let i = 0; i < 300; i += 1) {
        const now = t0 + i * 200;
        const due = await store.nextDigestDueAt(now, perMinute);
        if (due !== null && due <= now) await flush(now);
        const result = await store.admitNotification(
          'email:bob@example.com',
          `pa_${i}`,
          now,
          perMinute,
        );
        if (result.kind === 'send') {
          sentAt.push(now);
          covered.add(`pa_${i}`);
        }
      }
      for (let due = await store.nextDigestDueAt(t0 + 60_000, perMinute); due !== null;) {
        await flush(due);
        due = await store.nextDigestDueAt(due, perMinute);
      }
      expect(covered.size).toBe(300);
      for (const t of sentAt) {
        expect(sentAt.filter((s) => s > t - 60_000 && s <= t).length).toBeLessThanOrEqual(5);
      }
      expect(sentAt.length).toBeLessThanOrEqual(6);
    });

    it('lets one caller take a due webhook message per attempt, and another once its lease ran out', async () => {
      await store.createWebhookEndpoint({
        id: 'wh_1',
        url: 'https://example.com/hook',
        secret: 'whsec_x',
        events: ['request.created'],
        createdAt: t0,
        disabledAt: null,
      });
      const message = {
        msgId: 'msg_1',
        endpointId: 'wh_1',
        eventType: 'request.created',
        event: { id: 'msg_1', type: 'request.created', timestamp: '', data: {} },
        status: 'pending' as const,
        attempts: 1,
        firstAttemptAt: t0,
        nextAttemptAt: t0 + 5_000,
        lastStatus: 500,
        lastError: 'HTTP 500',
        updatedAt: t0,
      };
      await store.saveWebhookMessage(message);
      // Not due yet: nobody takes it.
      expect(
        await store.claimWebhookMessage('msg_1', 'wh_1', t0 + 5_000, t0 + 4_999, t0 + 9e4),
      ).toBe(false);
      const lease = t0 + 5_000 + 75_000;
      const wins = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.claimWebhookMessage('msg_1', 'wh_1', t0 + 5_000, t0 + 5_000, lease),
        ),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      // Taken: not listed as due until the lease runs out, then taken again at most once.
      expect(await store.listDueWebhookMessages(lease - 1, 10)).toEqual([]);
      const [due] = await store.listDueWebhookMessages(lease, 10);
      expect(due).toMatchObject({ msgId: 'msg_1', nextAttemptAt: lease, attempts: 1 });
      expect(await store.claimWebhookMessage('msg_1', 'wh_1', lease, lease, lease + 75_000)).toBe(
        true,
      );
      expect(await store.claimWebhookMessage('msg_1', 'wh_1', lease, lease, lease + 75_000)).toBe(
        false,
      );
      // A delivered message is never taken.
      await store.saveWebhookMessage({ ...message, status: 'delivered' });
      expect(await store.claimWebhookMessage('msg_1', 'wh_1', t0 + 5_000, t0 + 5_000, lease)).toBe(
        false,
      );
    });

    it('keeps a directory of servers: refreshed by heartbeats, forgotten when removed or long silent', async () => {
      await store.saveServerHeartbeat(
        { id: 'srv_a', internalUrl: 'http://10.0.0.1:7878', heartbeatAt: t0 },
        t0 - 86_400_000,
      );
      await store.saveServerHeartbeat(
        { id: 'srv_b', internalUrl: 'http://10.0.0.2:7878', heartbeatAt: t0 },
        t0 - 86_400_000,
      );
      await store.recordHandoffOwner(
        { sessionId: 'ho_1', serverId: 'srv_a', keepUntil: t0 + 10 },
        t0,
      );
      await store.recordHandoffOwner(
        { sessionId: 'ho_2', serverId: 'srv_b', keepUntil: t0 + 10 },
        t0,
      );
      store = await harness.reopen();
      expect(await store.findHandoffOwner('ho_1', t0)).toEqual({
        sessionId: 'ho_1',
        serverId: 'srv_a',
        keepUntil: t0 + 10,
        server: { id: 'srv_a', internalUrl: 'http://10.0.0.1:7878', heartbeatAt: t0 },
      });
      // A heartbeat refreshes the entry (and may move it).
      await store.saveServerHeartbeat(
        { id: 'srv_a', internalUrl: 'http://10.0.0.9:7878', heartbeatAt: t0 + 5 },
        t0 - 86_400_000,
      );
      expect((await store.findHandoffOwner('ho_1', t0))?.server).toEqual({
        id: 'srv_a',
        internalUrl: 'http://10.0.0.9:7878',
        heartbeatAt: t0 + 5,
      });
      // A removed server leaves its sessions' rows without a directory entry.
      await store.removeServer('srv_a');
      expect(await store.findHandoffOwner('ho_1', t0)).toMatchObject({
        serverId: 'srv_a',
        server: null,
      });
      await store.removeServer('srv_a');
      // A server silent since before `forgetBefore` is forgotten by the next heartbeat.
      await store.saveServerHeartbeat(
        { id: 'srv_c', internalUrl: 'http://10.0.0.3:7878', heartbeatAt: t0 + 100 },
        t0 + 1,
      );
      expect((await store.findHandoffOwner('ho_2', t0))?.server).toBeNull();
      expect(await store.findHandoffOwner('ho_unknown', t0)).toBeNull();
    });

    it('keeps a handoff owner row until its keepUntil, then forgets it', async () => {
      await store.saveServerHeartbeat(
        { id: 'srv_a', internalUrl: 'http://10.0.0.1:7878', heartbeatAt: t0 },
        0,
      );
      await store.recordHandoffOwner(
        { sessionId: 'ho_1', serverId: 'srv_a', keepUntil: t0 + 10 },
        t0,
      );
      expect((await store.findHandoffOwner('ho_1', t0 + 9))?.serverId).toBe('srv_a');
      expect(await store.findHandoffOwner('ho_1', t0 + 10)).toBeNull();
      // Recording another owner after that purges the old row for good.
      await store.recordHandoffOwner(
        { sessionId: 'ho_2', serverId: 'srv_a', keepUntil: t0 + 1_000 },
        t0 + 10,
      );
      expect(await store.findHandoffOwner('ho_1', t0)).toBeNull();
      expect((await store.findHandoffOwner('ho_2', t0 + 10))?.serverId).toBe('srv_a');
    });

    it('keeps grant offers, the first per approval, across a restart', async () => {
      const offer = { reaches: ['once', 'exact'], maxMinutes: 60, maxUses: 3, sessionId: 'ses_1' };
      await store.saveGrantOffer('pa_1', offer as never, t0);
      await store.saveGrantOffer('pa_1', { ...offer, maxMinutes: 9999 } as never, t0 + 1);
      expect(await store.getGrantOffer('pa_2')).toBeNull();
      store = await harness.reopen();
      expect(await store.getGrantOffer('pa_1')).toEqual(offer);
    });

    it('keeps grants exactly, lists them newest first and live ones only when asked', async () => {
      const a = grantRecord({ createdAt: t0, notAfter: t0 + 1_000 });
      const b = grantRecord({
        createdAt: t0 + 10,
        agentId: 'agent-2',
        reach: 'exact',
        actionHash: 'b'.repeat(64),
        constraints: null,
        gate: { type: 'quorum', quorum: { n: 1, approvers: ['alice'], stepUp: 'totp' } },
        maxUses: 2,
      });
      const c = grantRecord({
        createdAt: t0 + 20,
        reach: 'session',
        sessionId: 's',
        constraints: null,
      });
      for (const g of [a, b, c]) await store.createGrant(g, audit('grant.created'));
      await expect(
        store.createGrant(grantRecord({ pauseId: a.pauseId }), audit('grant.created')),
      ).rejects.toThrow();
      store = await harness.reopen();
      expect(await store.getGrant(b.id)).toEqual(b);
      expect(await store.getGrant('gr_none')).toBeNull();
      expect((await store.listGrants({ limit: 10 })).map((g) => g.id)).toEqual([c.id, b.id, a.id]);
      expect((await store.listGrants({ agentId: 'agent-1', limit: 10 })).map((g) => g.id)).toEqual([
        c.id,
        a.id,
      ]);
      expect(
        (await store.listGrants({ agentId: 'agent-1', liveAt: t0 + 1_000, limit: 10 })).map(
          (g) => g.id,
        ),
      ).toEqual([c.id]);
      expect(await store.revokeGrant(c.id, 'bob', t0 + 5, audit('grant.revoked'))).toBe(true);
      expect(await store.revokeGrant(c.id, 'bob', t0 + 6, audit('grant.revoked'))).toBe(false);
      expect(await store.getGrant(c.id)).toMatchObject({ revokedAt: t0 + 5, revokedBy: 'bob' });
      expect(await store.listGrants({ liveAt: t0 + 5, tool: 'get_weather', limit: 10 })).toEqual([
        expect.objectContaining({ id: b.id }),
        expect.objectContaining({ id: a.id }),
      ]);
      expect(await store.revokeGrant('gr_none', 'bob', t0, audit('grant.revoked'))).toBe(false);
    });

    it('uses a grant only while live: not after not_after, not past max_uses, not once revoked', async () => {
      const g = grantRecord({ maxUses: 2, notAfter: t0 + 100 });
      await store.createGrant(g, audit('grant.created'));
      expect(await store.useGrant(g.id, t0 + 100, audit('grant.used'))).toBe(false);
      expect(await store.useGrant(g.id, t0 + 1, audit('grant.used'))).toBe(true);
      expect(await store.useGrant(g.id, t0 + 2, audit('grant.used'))).toBe(true);
      expect(await store.useGrant(g.id, t0 + 3, audit('grant.used'))).toBe(false);
      expect((await store.getGrant(g.id))?.uses).toBe(2);
      const h = grantRecord();
      await store.createGrant(h, audit('grant.created'));
      await store.revokeGrant(h.id, 'bob', t0 + 1, audit('grant.revoked'));
      expect(await store.useGrant(h.id, t0 + 2, audit('grant.used'))).toBe(false);
      expect(await store.useGrant('gr_none', t0 + 2, audit('grant.used'))).toBe(false);
      const types = (await store.listAuditEntries()).map((e) => e.type);
      expect(types.filter((t) => t === 'grant.used')).toHaveLength(2);
      expect(findBrokenAuditEntry(await store.listAuditEntries())).toBeNull();
    });

    it('lets exactly one of 20 concurrent uses of a max_uses=1 grant win', async () => {
      const g = grantRecord({ maxUses: 1 });
      await store.createGrant(g, audit('grant.created'));
      const wins = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.useGrant(g.id, t0 + i, audit('grant.used'))),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect((await store.getGrant(g.id))?.uses).toBe(1);
    });
  });
}

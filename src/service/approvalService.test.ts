import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { approveGate, type GateSpec } from '../core/approval.js';
import { computeActionHash } from '../core/actionHash.js';
import { verifyReceipt } from '../crypto/receipt.js';
import { verifyApprovalResult } from '../crypto/verifyApprovalResult.js';
import {
  buildJwks,
  loadOrCreateReceiptKey,
  loadOrCreateTotpEncryptionKey,
  type ReceiptSigningKey,
} from '../crypto/signingKeys.js';
import { createTotpSecret, generateTotpCode } from '../gates/index.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import type { OperatorRecord } from '../core/records.js';
import { ApprovalService } from './approvalService.js';
import { TotpStepUp } from './stepUp.js';

let dir: string;
let store: Store;
let key: ReceiptSigningKey;
let clock: { now: number };
let service: ApprovalService;
let totp: TotpStepUp;
let alice: OperatorRecord;
let bob: OperatorRecord;
let secret: string;

function build(): void {
  const totpKey = loadOrCreateTotpEncryptionKey(dir);
  totp = new TotpStepUp(store, totpKey, () => clock.now);
  service = new ApprovalService({
    store,
    receiptKey: key,
    signingSecret: 's',
    publicUrl: 'http://127.0.0.1:7878',
    totp,
    now: () => clock.now,
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loopgate-service-'));
  store = openSqliteStore(join(dir, 'loopgate.db'));
  key = await loadOrCreateReceiptKey(dir);
  clock = { now: Date.UTC(2026, 10, 20, 12, 0, 0) };
  build();
  alice = await store.ensureOperator({
    id: 'op_alice',
    name: 'alice',
    role: 'admin',
    now: clock.now,
  });
  bob = await store.ensureOperator({ id: 'op_bob', name: 'bob', role: 'approver', now: clock.now });
  secret = createTotpSecret();
  await totp.enroll(alice, secret);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const input = { action_description: 'Transfer $5,000 to ACME', action_details: { amount: '5000' } };
const gated = (gate: GateSpec) => service.createApproval(input, 'agent', undefined, { gate });
const codeAt = (ms: number) => generateTotpCode({ secret, now: ms });
const approveAs = (
  op: OperatorRecord,
  id: string,
  totpCode?: string,
  decision: 'approved' | 'rejected' = 'approved',
) =>
  service.decide(id, {
    decision,
    responder: op.name,
    operatorId: op.id,
    channel: 'web',
    ...(totpCode ? { stepUp: { totpCode } } : {}),
  });

describe('totp gate', () => {
  it('approves only with a fresh authenticator code, and a code works once', async () => {
    const first = await gated({ type: 'totp' });
    await expect(approveAs(alice, first.id)).rejects.toMatchObject({ code: 'E_STEP_UP_REQUIRED' });
    const code = codeAt(clock.now);
    expect((await approveAs(alice, first.id, code)).status).toBe('responded');

    const second = await gated({ type: 'totp' });
    await expect(approveAs(alice, second.id, code)).rejects.toMatchObject({
      code: 'E_TOTP_REPLAYED',
    });
    clock.now += 30_000;
    expect((await approveAs(alice, second.id, codeAt(clock.now))).status).toBe('responded');
    const audit = (await store.listAuditEntries()).map((e) => e.type);
    expect(audit.filter((t) => t === 'gate.totp.accepted')).toHaveLength(2);
    expect(audit.filter((t) => t === 'gate.totp.refused')).toHaveLength(1);
  });

  it('refuses a replayed code after a restart, and code(T−1) after code(T)', async () => {
    const first = await gated({ type: 'totp' });
    await approveAs(alice, first.id, codeAt(clock.now));
    await store.close();
    store = openSqliteStore(join(dir, 'loopgate.db'));
    build();
    const second = await gated({ type: 'totp' });
    await expect(approveAs(alice, second.id, codeAt(clock.now))).rejects.toMatchObject({
      code: 'E_TOTP_REPLAYED',
    });
    await expect(approveAs(alice, second.id, codeAt(clock.now - 30_000))).rejects.toMatchObject({
      code: 'E_TOTP_REPLAYED',
    });
    expect((await service.getApproval(second.id)).status).toBe('pending');
  });

  it('accepts exactly one of 100 parallel submissions of one valid code', async () => {
    const requests = await Promise.all(Array.from({ length: 100 }, () => gated({ type: 'totp' })));
    const code = codeAt(clock.now);
    const results = await Promise.allSettled(requests.map((r) => approveAs(alice, r.id, code)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refusals = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => (r.reason as { code: string }).code);
    expect(new Set(refusals)).toEqual(
      new Set(['E_TOTP_REPLAYED', 'E_TOTP_REQUEST_VOIDED', 'E_TOTP_LOCKED']),
    );
  });

  it('voids the request after 5 wrong codes and locks after 10 in a row, until an admin unlocks', async () => {
    const first = await gated({ type: 'totp' });
    for (let i = 0; i < 4; i++)
      await expect(approveAs(alice, first.id, '000000')).rejects.toMatchObject({
        code: 'E_TOTP_CODE_INVALID',
      });
    await expect(approveAs(alice, first.id, '000000')).rejects.toMatchObject({
      code: 'E_TOTP_REQUEST_VOIDED',
    });
    expect((await service.getApproval(first.id)).status).toBe('expired');
    await expect(approveAs(alice, first.id, codeAt(clock.now))).rejects.toMatchObject({
      code: 'E_APPROVAL_ALREADY_DECIDED',
    });

    const second = await gated({ type: 'totp' });
    for (let i = 0; i < 4; i++)
      await expect(approveAs(alice, second.id, '000000')).rejects.toMatchObject({
        code: 'E_TOTP_CODE_INVALID',
      });
    await expect(approveAs(alice, second.id, '000000')).rejects.toMatchObject({
      code: 'E_TOTP_LOCKED',
    });
    const third = await gated({ type: 'totp' });
    await expect(approveAs(alice, third.id, codeAt(clock.now))).rejects.toMatchObject({
      code: 'E_TOTP_LOCKED',
    });
    expect((await service.getApproval(third.id)).status).toBe('expired');
    expect((await totp.status(alice)).locked).toBe(true);

    await totp.unlock(alice, 'operator:admin');
    const fourth = await gated({ type: 'totp' });
    expect((await approveAs(alice, fourth.id, codeAt(clock.now))).status).toBe('responded');
    const types = (await store.listAuditEntries()).map((e) => e.type);
    expect(types.filter((t) => t === 'approval.voided')).toHaveLength(3);
    expect(types).toContain('gate.totp.unlocked');
  });

  it('lets anyone reject without a code, and refuses an operator with no authenticator', async () => {
    const request = await gated({ type: 'totp' });
    await expect(approveAs(bob, request.id, '123456')).rejects.toMatchObject({
      code: 'E_TOTP_NOT_ENROLLED',
    });
    expect((await approveAs(bob, request.id, undefined, 'rejected')).response?.decision).toBe(
      'rejected',
    );
  });

  it('confirms a new enrolment only with a code from the new secret', async () => {
    const start = await totp.beginEnrollment(bob);
    expect(start.uri).toMatch(/^otpauth:\/\/totp\/loopgate:bob\?/);
    expect(start.qrDataUrl).toMatch(/^data:image\/png;base64,/);
    const newSecret = new URL(start.uri).searchParams.get('secret')!;
    await expect(
      totp.confirmEnrollment(bob, start.enrollmentToken, '000000'),
    ).rejects.toMatchObject({ code: 'E_TOTP_CODE_INVALID' });
    await expect(
      totp.confirmEnrollment(
        alice,
        start.enrollmentToken,
        generateTotpCode({ secret: newSecret, now: clock.now }),
      ),
    ).rejects.toMatchObject({
      code: 'E_TOTP_SECRET_UNREADABLE',
    });
    await totp.confirmEnrollment(
      bob,
      start.enrollmentToken,
      generateTotpCode({ secret: newSecret, now: clock.now }),
    );
    expect(await totp.status(bob)).toMatchObject({ enrolled: true, locked: false });
    expect(JSON.stringify(await store.getTotpEnrollment(bob.id))).not.toContain(newSecret);
  });
});

describe('quorum gate', () => {
  const quorum: GateSpec = {
    type: 'quorum',
    quorum: { n: 2, approvers: ['alice', 'bob'], stepUp: 'none' },
  };

  it('needs n distinct approvers; the receipt lists every approver', async () => {
    const request = await gated(quorum);
    const afterAlice = await approveAs(alice, request.id);
    expect(afterAlice.status).toBe('pending');
    expect(afterAlice.votes.map((v) => v.operator)).toEqual(['alice']);
    await expect(approveAs(alice, request.id)).rejects.toMatchObject({
      code: 'E_QUORUM_ALREADY_VOTED',
    });
    const done = await approveAs(bob, request.id);
    expect(done.status).toBe('responded');
    expect(done.response?.approvers).toEqual(['alice', 'bob']);
    const verified = await verifyReceipt(done.receipt!, buildJwks([key]));
    expect(verified).toMatchObject({
      ok: true,
      value: { payload: { decision: 'approved', approvers: ['alice', 'bob'] } },
    });
  });

  it('is rejected by one reject, and refuses operators not on the list', async () => {
    const carol = await store.ensureOperator({
      id: 'op_carol',
      name: 'carol',
      role: 'approver',
      now: clock.now,
    });
    const request = await gated(quorum);
    await expect(approveAs(carol, request.id)).rejects.toMatchObject({
      code: 'E_QUORUM_NOT_APPROVER',
    });
    await approveAs(alice, request.id);
    const rejected = await approveAs(bob, request.id, undefined, 'rejected');
    expect(rejected.response?.decision).toBe('rejected');
  });

  it('asks each approver for the step-up', async () => {
    const request = await gated({
      type: 'quorum',
      quorum: { n: 1, approvers: ['alice'], stepUp: 'totp' },
    });
    await expect(approveAs(alice, request.id)).rejects.toMatchObject({
      code: 'E_STEP_UP_REQUIRED',
    });
    expect((await approveAs(alice, request.id, codeAt(clock.now))).status).toBe('responded');
  });
});

describe('webauthn gate without a verifier', () => {
  it('refuses to approve rather than skip the passkey', async () => {
    const request = await gated({ type: 'webauthn' });
    await expect(approveAs(alice, request.id)).rejects.toMatchObject({
      code: 'E_STEP_UP_UNAVAILABLE',
    });
    expect((await service.getApproval(request.id)).status).toBe('pending');
  });
});

describe('consuming an approval (the gateway’s retried call)', () => {
  const action = { tool: 'transfer', arguments: { amount: 5000 } };
  const hash = computeActionHash(action);

  it('uses an approved decision for exactly that action once', async () => {
    const request = await service.createApproval(input, 'agent', hash, { toolName: 'transfer' });
    expect(await service.consumeApproval('agent', hash, approveGate)).toBeNull();
    await approveAs(alice, request.id);
    expect(await service.consumeApproval('other-agent', hash, approveGate)).toBeNull();
    expect(
      await service.consumeApproval(
        'agent',
        computeActionHash({ ...action, arguments: { amount: 5001 } }),
        approveGate,
      ),
    ).toBeNull();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => service.consumeApproval('agent', hash, approveGate)),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await service.consumeApproval('agent', hash, approveGate)).toBeNull();
    expect((await service.getApproval(request.id)).consumedAt).toBe(clock.now);
  });

  it('never uses a rejected or expired decision', async () => {
    const rejected = await service.createApproval(input, 'agent', hash, { toolName: 'transfer' });
    await approveAs(alice, rejected.id, undefined, 'rejected');
    expect(await service.consumeApproval('agent', hash, approveGate)).toBeNull();
    const approved = await service.createApproval(input, 'agent', hash, {
      toolName: 'transfer',
      timeoutMs: 60_000,
    });
    await approveAs(alice, approved.id);
    clock.now += 60_000;
    expect(await service.consumeApproval('agent', hash, approveGate)).toBeNull();
  });

  it('never uses a one-click approval for a call whose policy asks for a TOTP code or a quorum', async () => {
    const totpGate: GateSpec = { type: 'totp' };
    const quorumGate: GateSpec = {
      type: 'quorum',
      quorum: { n: 2, approvers: ['alice', 'bob'], stepUp: 'none' },
    };
    // A gateway key holder pre-creates the exact call under `approve`; a human approves it with one click.
    const planted = await service.requestToolApproval('agent', {
      ...action,
      gate: approveGate,
      timeoutMs: 60_000,
    });
    // The proxy asks under the policy's gate: the planted request is not reused.
    const real = await service.requestToolApproval('agent', {
      ...action,
      gate: totpGate,
      timeoutMs: 60_000,
    });
    expect(real.id).not.toBe(planted.id);
    expect(real.gate).toEqual(totpGate);
    await approveAs(alice, planted.id);
    expect(await service.consumeApproval('agent', hash, totpGate)).toBeNull();
    expect(await service.consumeApproval('agent', hash, quorumGate)).toBeNull();
    expect((await service.getApproval(planted.id)).consumedAt).toBeNull();
    // The receipt carries the gate it was decided under.
    const receipt = (await service.getApproval(planted.id)).receipt!;
    const verified = await verifyReceipt(receipt, buildJwks([key]));
    expect(verified.ok && verified.value.payload.gate).toEqual({ type: 'approve' });
    // The request made under the policy's gate is the one that counts.
    await approveAs(alice, real.id, codeAt(clock.now));
    const consumed = await service.consumeApproval('agent', hash, totpGate);
    expect(consumed?.id).toBe(real.id);
    const signed = await verifyReceipt(consumed!.receipt!, buildJwks([key]));
    expect(signed.ok && signed.value.payload.gate).toEqual(totpGate);
  });

  it('refuses a decision whose stored receipt was tampered with', async () => {
    const request = await service.createApproval(input, 'agent', hash, { toolName: 'transfer' });
    await approveAs(alice, request.id);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dir, 'loopgate.db'));
    const receipt = (
      db.prepare('SELECT receipt FROM approvals WHERE id = ?').get(request.id) as {
        receipt: string;
      }
    ).receipt;
    const [h, p, s] = receipt.split('.') as [string, string, string];
    // Flip one character in the middle of the signature (the last ones carry padding bits).
    const flipped = `${s.slice(0, 20)}${s[20] === 'A' ? 'B' : 'A'}${s.slice(21)}`;
    db.prepare('UPDATE approvals SET receipt = ? WHERE id = ?').run(
      `${h}.${p}.${flipped}`,
      request.id,
    );
    db.close();
    expect(await service.consumeApproval('agent', hash, approveGate)).toBeNull();
    expect((await store.listAuditEntries()).map((e) => e.type)).toContain(
      'gateway.receipt_invalid',
    );
  });
});

describe('the response HMAC is bound to its request', () => {
  /** What a LoopPause verifier does: HMAC-SHA256 over JSON.stringify of the sorted response. */
  function loopPauseHmac(response: Record<string, unknown>, signingSecret: string): string {
    const sorted = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sorted)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
            )
          : v;
    const rest = { ...response };
    delete rest['signature'];
    return `sha256=${createHmac('sha256', signingSecret)
      .update(JSON.stringify(sorted(rest)), 'utf8')
      .digest('hex')}`;
  }

  it("refuses request A's response and signature pasted into request B's result", async () => {
    const jwks = buildJwks([key]);
    const small = await service.createApproval(
      { action_description: 'Pay $5 to ACME', action_details: { amount: '5' } },
      'agent',
    );
    const large = await service.createApproval(
      { action_description: 'Pay $5,000 to Mallory', action_details: { amount: '5000' } },
      'agent',
    );
    const a = service.view(await approveAs(alice, small.id));
    const b = service.view(await approveAs(alice, large.id, undefined, 'rejected'));

    // The genuine result verifies both ways, and its HMAC'd response names its own request.
    expect(a.response).toMatchObject({ pause_id: small.id, action_hash: small.actionHash });
    expect(a.response!.signature).toBe(loopPauseHmac(a.response!, 's'));
    expect(await verifyApprovalResult(a, { jwks, secret: 's' })).toMatchObject({
      ok: true,
      value: { hmacChecked: true },
    });

    // A's approval pasted into B: the HMAC still matches A's response, but it says it is A's.
    const pasted = { ...b, response: a.response };
    expect(pasted.response!.signature).toBe(loopPauseHmac(pasted.response!, 's'));
    expect(pasted.response!.pause_id).not.toBe(pasted.pause_id);
    const refused = await verifyApprovalResult(pasted, { jwks, secret: 's' });
    expect(refused).toMatchObject({ ok: false, code: 'E_RECEIPT_MISMATCH' });
    // …also with A's receipt carried along, and with the ids in the response edited to B's.
    const withReceipt = await verifyApprovalResult(
      { ...pasted, receipt: a.receipt },
      { jwks, secret: 's' },
    );
    expect(withReceipt).toMatchObject({ ok: false, code: 'E_RECEIPT_MISMATCH' });
    const relabelled = {
      ...pasted,
      response: { ...a.response!, pause_id: b.pause_id, action_hash: b.action_hash },
    };
    expect(relabelled.response.signature).not.toBe(loopPauseHmac(relabelled.response, 's'));
    expect(
      await verifyApprovalResult({ ...relabelled, receipt: a.receipt }, { jwks, secret: 's' }),
    ).toMatchObject({ ok: false });
    expect(await verifyApprovalResult(relabelled, { jwks, secret: 's' })).toMatchObject({
      ok: false,
    });
  });
});

describe('otp arguments (gate otp_argument)', () => {
  it('throttles the caller that sends wrong codes, never locks the operator or voids their request', async () => {
    const pending = await gated({ type: 'totp' });
    const errors: string[] = [];
    for (let i = 0; i < 12; i++) {
      const wrong = codeAt(clock.now) === '000000' ? '111111' : '000000';
      errors.push(
        await totp.verifyOtpArgument(alice, wrong, 'key:key_x', 'transfer').then(
          () => 'ok',
          (e: { code: string }) => e.code,
        ),
      );
    }
    expect(errors.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => 'E_TOTP_CODE_INVALID'));
    expect(errors.slice(10)).toEqual(['E_GATEWAY_OTP_THROTTLED', 'E_GATEWAY_OTP_THROTTLED']);
    // Even the right code is not checked while the key is throttled.
    await expect(
      totp.verifyOtpArgument(alice, codeAt(clock.now), 'key:key_x', 'transfer'),
    ).rejects.toMatchObject({ code: 'E_GATEWAY_OTP_THROTTLED' });
    // The human's own step-up is untouched: not locked, their pending request still pending and approvable.
    expect(await totp.status(alice)).toMatchObject({ enrolled: true, locked: false });
    expect((await service.getApproval(pending.id)).status).toBe('pending');
    const decided = await approveAs(alice, pending.id, codeAt(clock.now));
    expect(decided.response?.decision).toBe('approved');
    // Another gateway is not held back by the first one's guesses; a code works once.
    clock.now += 30_000;
    await totp.verifyOtpArgument(alice, codeAt(clock.now), 'key:key_y', 'transfer');
    await expect(
      totp.verifyOtpArgument(alice, codeAt(clock.now), 'key:key_y', 'transfer'),
    ).rejects.toMatchObject({ code: 'E_TOTP_REPLAYED' });
    // The throttle ends after its wait; a right code then clears it.
    clock.now += 60_000;
    await totp.verifyOtpArgument(alice, codeAt(clock.now), 'key:key_x', 'transfer');
    expect((await store.listAuditEntries()).map((e) => e.type)).toContain(
      'gate.otp_argument.accepted',
    );
  });
});

describe('the decided request', () => {
  it('is returned exactly as stored, for one approver and for a quorum', async () => {
    const asked = await service.createApproval(
      { ...input, fields: [{ name: 'ticket', type: 'string', label: 'Ticket', required: true }] },
      'agent',
    );
    clock.now += 1_000;
    const decided = await service.decide(asked.id, {
      decision: 'approved',
      comment: 'ok, once',
      fields: { ticket: 'CHG-7' },
      responder: 'bob',
      operatorId: bob.id,
      channel: 'web',
    });
    expect(decided).toMatchObject({ status: 'responded', updatedAt: clock.now });
    expect(decided).toEqual(await service.getApproval(asked.id));

    const voted = await gated({
      type: 'quorum',
      quorum: { n: 2, approvers: ['alice', 'bob'], stepUp: 'none' },
    });
    await approveAs(alice, voted.id);
    clock.now += 1_000;
    const final = await approveAs(bob, voted.id);
    expect(final.votes).toHaveLength(2);
    expect(final).toEqual(await service.getApproval(voted.id));
  });
});

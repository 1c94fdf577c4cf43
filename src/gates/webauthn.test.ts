import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApprovalRecord } from '../core/approval.js';
import type { ErrorCode } from '../core/errorCodes.js';
import { isLoopgateError } from '../core/errors.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import type { OperatorRecord } from '../core/records.js';
import { SoftAuthenticator } from './testing/softAuthenticator.js';
import {
  createWebAuthnService,
  relyingPartyFromPublicUrl,
  webAuthnChallengeTtlMs,
  type WebAuthnService,
} from './webauthn.js';

const origin = 'http://localhost:7878';
const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);

let dir: string;
let store: Store;
let clock: { now: number };
let webauthn: WebAuthnService;
let alice: OperatorRecord;
let bob: OperatorRecord;

function approvalRecord(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: `pa_${randomUUID()}`,
    agentId: 'claude',
    status: 'pending',
    actionDescription: 'Transfer $5,000 to ACME',
    actionDetails: { amount: '5000' },
    fields: [],
    recipientEmail: null,
    recipientSlack: null,
    actionHash: 'a'.repeat(64),
    createdAt: t0,
    expiresAt: t0 + 3_600_000,
    updatedAt: t0,
    response: null,
    receipt: null,
    gate: { type: 'webauthn' },
    toolName: 'transfer_funds',
    consumedAt: null,
    votes: [],
    ...overrides,
  };
}

async function createRequest(overrides: Partial<ApprovalRecord> = {}): Promise<string> {
  const record = approvalRecord(overrides);
  await store.createApproval(record, {
    type: 'approval.created',
    requestId: record.id,
    actor: 'agent:claude',
    data: {},
  });
  return record.id;
}

/** Registers a new software passkey for `operator` through the real ceremony. */
async function registerPasskey(
  operator: OperatorRecord,
  name = 'Laptop',
): Promise<SoftAuthenticator> {
  const authenticator = new SoftAuthenticator(origin);
  await webauthn.verifyRegistration(
    operator,
    authenticator.register(await webauthn.registrationOptions(operator)),
    name,
  );
  return authenticator;
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isLoopgateError(err, code)) return err.message;
    throw err;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

async function auditOf(type: string) {
  return (await store.listAuditEntries()).filter((e) => e.type === type);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loopgate-webauthn-'));
  store = openSqliteStore(join(dir, 'loopgate.db'));
  clock = { now: t0 };
  const rp = relyingPartyFromPublicUrl(`${origin}/`);
  webauthn = createWebAuthnService({
    store,
    rpId: rp.rpId,
    rpName: 'loopgate',
    origin: rp.origin,
    now: () => clock.now,
  });
  alice = await store.ensureOperator({ id: 'op_alice', name: 'alice', role: 'admin', now: t0 });
  bob = await store.ensureOperator({ id: 'op_bob', name: 'bob', role: 'approver', now: t0 });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('relyingPartyFromPublicUrl', () => {
  it('takes the RP ID from the host name and the origin from the public URL', () => {
    expect(relyingPartyFromPublicUrl('https://approvals.example.com/base/')).toEqual({
      rpId: 'approvals.example.com',
      origin: 'https://approvals.example.com',
    });
    expect(relyingPartyFromPublicUrl('http://localhost:7878')).toEqual({
      rpId: 'localhost',
      origin: 'http://localhost:7878',
    });
  });
});

describe('passkey registration', () => {
  it('issues a 32-byte challenge with user verification required and stores the verified passkey', async () => {
    const options = await webauthn.registrationOptions(alice);
    expect(Buffer.from(options.challenge, 'base64url')).toHaveLength(32);
    expect(options.rp).toEqual({ name: 'loopgate', id: 'localhost' });
    expect(options.authenticatorSelection?.userVerification).toBe('required');
    expect(options.user.name).toBe('alice');
    expect(options.timeout).toBe(webAuthnChallengeTtlMs);

    const authenticator = new SoftAuthenticator(origin);
    const view = await webauthn.verifyRegistration(
      alice,
      authenticator.register(options),
      '  Work laptop ',
    );
    expect(view).toEqual({
      id: authenticator.id,
      name: 'Work laptop',
      created_at: new Date(t0).toISOString(),
      last_used_at: null,
      flagged: false,
    });
    expect(await webauthn.listCredentials(alice)).toEqual([view]);
    expect(await webauthn.listCredentials(bob)).toEqual([]);
    expect((await auditOf('gate.webauthn.registered')).map((e) => e.actor)).toEqual([
      'operator:alice',
    ]);

    // The next ceremony tells the browser not to register the same authenticator again.
    const again = await webauthn.registrationOptions(alice);
    expect(again.excludeCredentials?.map((c) => c.id)).toEqual([authenticator.id]);
    expect(again.challenge).not.toBe(options.challenge);
  });

  it('refuses a replayed registration: each challenge works once', async () => {
    const authenticator = new SoftAuthenticator(origin);
    const response = authenticator.register(await webauthn.registrationOptions(alice));
    await webauthn.verifyRegistration(alice, response, 'Laptop');
    await expectCode(
      webauthn.verifyRegistration(alice, response, 'Laptop again'),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
    expect(await webauthn.listCredentials(alice)).toHaveLength(1);
  });

  it('refuses the same authenticator registered twice', async () => {
    const authenticator = await registerPasskey(alice);
    const message = await expectCode(
      webauthn.verifyRegistration(
        alice,
        authenticator.register(await webauthn.registrationOptions(alice)),
        'Twice',
      ),
      'E_WEBAUTHN_REGISTRATION_INVALID',
    );
    expect(message).toMatch(/registered already/);
    expect(await webauthn.listCredentials(alice)).toHaveLength(1);
  });

  it('refuses a challenge issued to another operator, and an expired one', async () => {
    const stolen = new SoftAuthenticator(origin).register(
      await webauthn.registrationOptions(alice),
    );
    await expectCode(
      webauthn.verifyRegistration(bob, stolen, 'Not mine'),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );

    const late = new SoftAuthenticator(origin).register(await webauthn.registrationOptions(alice));
    clock.now += webAuthnChallengeTtlMs;
    await expectCode(
      webauthn.verifyRegistration(alice, late, 'Late'),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
    expect(await webauthn.listCredentials(alice)).toEqual([]);
    expect(await webauthn.listCredentials(bob)).toEqual([]);
  });

  it('refuses a registration without user verification, from another origin or for another RP ID', async () => {
    const noUv = new SoftAuthenticator(origin);
    noUv.userVerified = false;
    expect(
      await expectCode(
        webauthn.verifyRegistration(
          alice,
          noUv.register(await webauthn.registrationOptions(alice)),
          'x',
        ),
        'E_WEBAUTHN_REGISTRATION_INVALID',
      ),
    ).toMatch(/User verification/);

    const phishing = new SoftAuthenticator('https://evil.example');
    expect(
      await expectCode(
        webauthn.verifyRegistration(
          alice,
          phishing.register(await webauthn.registrationOptions(alice)),
          'x',
        ),
        'E_WEBAUTHN_REGISTRATION_INVALID',
      ),
    ).toMatch(/origin/);

    const otherRp = new SoftAuthenticator(origin);
    await expectCode(
      webauthn.verifyRegistration(
        alice,
        otherRp.register(await webauthn.registrationOptions(alice), { rpId: 'evil.example' }),
        'x',
      ),
      'E_WEBAUTHN_REGISTRATION_INVALID',
    );
    expect(await webauthn.listCredentials(alice)).toEqual([]);
    expect((await auditOf('gate.webauthn.registration_refused')).length).toBe(3);
  });

  it('refuses a malformed response and a missing or overlong name', async () => {
    await expectCode(
      webauthn.verifyRegistration(alice, { id: 'x' }, 'Laptop'),
      'E_WEBAUTHN_REGISTRATION_INVALID',
    );
    await expectCode(
      webauthn.verifyRegistration(alice, 'not json', 'Laptop'),
      'E_WEBAUTHN_REGISTRATION_INVALID',
    );
    const options = await webauthn.registrationOptions(alice);
    const response = new SoftAuthenticator(origin).register(options);
    await expectCode(
      webauthn.verifyRegistration(alice, response, '   '),
      'E_WEBAUTHN_REGISTRATION_INVALID',
    );
    await expectCode(
      webauthn.verifyRegistration(alice, response, 'x'.repeat(65)),
      'E_WEBAUTHN_REGISTRATION_INVALID',
    );
    expect(await webauthn.listCredentials(alice)).toEqual([]);
  });
});

describe('passkey assertions for a request', () => {
  it('accepts an assertion made for this request by this operator, and records its use', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    const options = await webauthn.authenticationOptions(alice, requestId);
    expect(Buffer.from(options.challenge, 'base64url')).toHaveLength(32);
    expect(options.userVerification).toBe('required');
    expect(options.rpId).toBe('localhost');
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([authenticator.id]);

    clock.now += 1_000;
    const result = await webauthn.verifyAssertion({
      operatorId: alice.id,
      requestId,
      response: authenticator.assert(options),
      now: clock.now,
    });
    expect(result).toEqual({ credentialId: authenticator.id });
    const stored = await store.getWebAuthnCredential(authenticator.id);
    expect(stored?.counter).toBe(1);
    expect(stored?.lastUsedAt).toBe(clock.now);
    const accepted = await auditOf('gate.webauthn.accepted');
    expect(accepted.map((e) => [e.requestId, e.actor, e.data['credential_id']])).toEqual([
      [requestId, 'operator:alice', authenticator.id],
    ]);
  });

  it('refuses a replayed assertion: the challenge was used up by the first', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    const assertion = authenticator.assert(await webauthn.authenticationOptions(alice, requestId));
    await webauthn.verifyAssertion({
      operatorId: alice.id,
      requestId,
      response: assertion,
      now: clock.now,
    });
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: assertion,
        now: clock.now,
      }),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
    const refused = await auditOf('gate.webauthn.refused');
    expect(refused.map((e) => e.data['reason'])).toEqual(['challenge_invalid']);
  });

  it('accepts exactly one of many parallel submissions of one assertion', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    const assertion = authenticator.assert(await webauthn.authenticationOptions(alice, requestId));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        webauthn.verifyAssertion({
          operatorId: alice.id,
          requestId,
          response: assertion,
          now: clock.now,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it("refuses request A's assertion on request B, and A's challenge is spent by the try", async () => {
    const authenticator = await registerPasskey(alice);
    const a = await createRequest();
    const b = await createRequest();
    const forA = authenticator.assert(await webauthn.authenticationOptions(alice, a));
    const message = await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId: b,
        response: forA,
        now: clock.now,
      }),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
    expect(message).toContain(a);
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId: a,
        response: forA,
        now: clock.now,
      }),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
    const refused = await auditOf('gate.webauthn.refused');
    expect(refused.map((e) => [e.requestId, e.data['reason']])).toEqual([
      [b, 'challenge_other_request'],
      [a, 'challenge_invalid'],
    ]);
    expect((await store.getWebAuthnCredential(authenticator.id))?.counter).toBe(0);
  });

  it('refuses an assertion after the 5-minute expiry', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    const assertion = authenticator.assert(await webauthn.authenticationOptions(alice, requestId));
    clock.now += webAuthnChallengeTtlMs;
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: assertion,
        now: clock.now,
      }),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
  });

  it("refuses another operator's passkey on the signed-in operator's challenge, and another operator's challenge", async () => {
    await registerPasskey(alice);
    const bobs = await registerPasskey(bob);
    const requestId = await createRequest();
    const alicesOptions = await webauthn.authenticationOptions(alice, requestId);
    const message = await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: bobs.assert(alicesOptions),
        now: clock.now,
      }),
      'E_WEBAUTHN_CREDENTIAL_UNKNOWN',
    );
    expect(message).toMatch(/another operator/);

    // Bob answering a challenge issued to alice, as himself.
    const stolen = bobs.assert(await webauthn.authenticationOptions(alice, requestId));
    await expectCode(
      webauthn.verifyAssertion({ operatorId: bob.id, requestId, response: stolen, now: clock.now }),
      'E_WEBAUTHN_CHALLENGE_INVALID',
    );
    expect((await store.getWebAuthnCredential(bobs.id))?.lastUsedAt).toBeNull();
  });

  it('refuses an unregistered passkey', async () => {
    await registerPasskey(alice);
    const requestId = await createRequest();
    const stranger = new SoftAuthenticator(origin);
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: stranger.assert(await webauthn.authenticationOptions(alice, requestId)),
        now: clock.now,
      }),
      'E_WEBAUTHN_CREDENTIAL_UNKNOWN',
    );
  });

  it('refuses an assertion without user verification, from another origin, for another RP ID, or with a bad signature', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    const verify = (response: unknown) =>
      webauthn.verifyAssertion({ operatorId: alice.id, requestId, response, now: clock.now });

    authenticator.userVerified = false;
    expect(
      await expectCode(
        verify(authenticator.assert(await webauthn.authenticationOptions(alice, requestId))),
        'E_WEBAUTHN_ASSERTION_INVALID',
      ),
    ).toMatch(/User verification/);
    authenticator.userVerified = true;

    const phished = authenticator.assert(await webauthn.authenticationOptions(alice, requestId), {
      origin: 'https://evil.example',
    });
    expect(await expectCode(verify(phished), 'E_WEBAUTHN_ASSERTION_INVALID')).toMatch(/origin/);

    const otherRp = authenticator.assert(await webauthn.authenticationOptions(alice, requestId), {
      rpId: 'evil.example',
    });
    await expectCode(verify(otherRp), 'E_WEBAUTHN_ASSERTION_INVALID');

    const forged = authenticator.assert(await webauthn.authenticationOptions(alice, requestId));
    const signature = Buffer.from(forged.response.signature, 'base64url');
    signature[signature.length - 1]! ^= 0x01;
    await expectCode(
      verify({
        ...forged,
        response: { ...forged.response, signature: signature.toString('base64url') },
      }),
      'E_WEBAUTHN_ASSERTION_INVALID',
    );

    const stored = await store.getWebAuthnCredential(authenticator.id);
    expect(stored?.counter).toBe(0);
    expect(stored?.flaggedAt).toBeNull();
    expect((await auditOf('gate.webauthn.refused')).map((e) => e.data['reason'])).toEqual([
      'signature_invalid',
      'signature_invalid',
      'signature_invalid',
      'signature_invalid',
    ]);
  });

  it('refuses a malformed assertion', async () => {
    await registerPasskey(alice);
    const requestId = await createRequest();
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: { id: 'abc' },
        now: clock.now,
      }),
      'E_WEBAUTHN_ASSERTION_INVALID',
    );
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: undefined,
        now: clock.now,
      }),
      'E_WEBAUTHN_ASSERTION_INVALID',
    );
  });

  it('refuses a sign counter that goes backwards or stays equal, flags the passkey and audits it', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    const verify = async () =>
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: authenticator.assert(await webauthn.authenticationOptions(alice, requestId)),
        now: clock.now,
      });
    authenticator.counter = 5;
    await verify();
    authenticator.counter = 5; // a clone that signs with the same counter
    const message = await expectCode(verify(), 'E_WEBAUTHN_COUNTER_REGRESSED');
    expect(message).toMatch(/counter 5, not above the 5/);

    const stored = await store.getWebAuthnCredential(authenticator.id);
    expect(stored?.flaggedAt).toBe(clock.now);
    expect(stored?.counter).toBe(5);
    const regressed = await auditOf('gate.webauthn.counter_regressed');
    expect(
      regressed.map((e) => [e.requestId, e.data['stored_counter'], e.data['presented_counter']]),
    ).toEqual([[requestId, 5, 5]]);
    expect(await webauthn.listCredentials(alice)).toEqual([
      expect.objectContaining({ id: authenticator.id, flagged: true }),
    ]);

    // A flagged passkey is offered no more, and refused even with a higher counter.
    await expectCode(webauthn.authenticationOptions(alice, requestId), 'E_WEBAUTHN_NOT_REGISTERED');
    const other = await registerPasskey(alice, 'Phone');
    const options = await webauthn.authenticationOptions(alice, requestId);
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([other.id]);
    authenticator.counter = 50;
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: authenticator.assert(options),
        now: clock.now,
      }),
      'E_WEBAUTHN_CREDENTIAL_FLAGGED',
    );
  });

  it('refuses a counter below the stored one', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    authenticator.counter = 9;
    await webauthn.verifyAssertion({
      operatorId: alice.id,
      requestId,
      response: authenticator.assert(await webauthn.authenticationOptions(alice, requestId)),
      now: clock.now,
    });
    authenticator.counter = 3;
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: authenticator.assert(await webauthn.authenticationOptions(alice, requestId)),
        now: clock.now,
      }),
      'E_WEBAUTHN_COUNTER_REGRESSED',
    );
    expect((await store.getWebAuthnCredential(authenticator.id))?.flaggedAt).not.toBeNull();
  });

  it('does not flag a passkey for a forged assertion with a low counter (the signature is checked first)', async () => {
    const authenticator = await registerPasskey(alice);
    const requestId = await createRequest();
    authenticator.counter = 9;
    await webauthn.verifyAssertion({
      operatorId: alice.id,
      requestId,
      response: authenticator.assert(await webauthn.authenticationOptions(alice, requestId)),
      now: clock.now,
    });
    const forger = new SoftAuthenticator(origin);
    forger.counter = 1;
    const forged = forger.assert(await webauthn.authenticationOptions(alice, requestId));
    await expectCode(
      webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: { ...forged, id: authenticator.id, rawId: authenticator.id },
        now: clock.now,
      }),
      'E_WEBAUTHN_ASSERTION_INVALID',
    );
    expect((await store.getWebAuthnCredential(authenticator.id))?.flaggedAt).toBeNull();
  });

  it('accepts an authenticator without a counter (always 0) every time', async () => {
    const authenticator = await registerPasskey(alice);
    authenticator.counter = 0;
    const requestId = await createRequest();
    for (let i = 0; i < 3; i += 1) {
      await webauthn.verifyAssertion({
        operatorId: alice.id,
        requestId,
        response: authenticator.assert(await webauthn.authenticationOptions(alice, requestId)),
        now: clock.now,
      });
    }
    expect((await auditOf('gate.webauthn.accepted')).length).toBe(3);
  });
});

describe('authenticationOptions', () => {
  it('refuses an unknown, decided or timed-out request, and an operator without passkeys', async () => {
    await registerPasskey(alice);
    await expectCode(webauthn.authenticationOptions(alice, 'pa_missing'), 'E_APPROVAL_NOT_FOUND');
    const cancelled = await createRequest({ status: 'expired' });
    await expectCode(
      webauthn.authenticationOptions(alice, cancelled),
      'E_APPROVAL_ALREADY_DECIDED',
    );
    const late = await createRequest({ expiresAt: t0 + 1_000 });
    clock.now += 1_000;
    await expectCode(webauthn.authenticationOptions(alice, late), 'E_APPROVAL_EXPIRED');
    const open = await createRequest({ expiresAt: t0 + 3_600_000 });
    expect(
      await expectCode(webauthn.authenticationOptions(bob, open), 'E_WEBAUTHN_NOT_REGISTERED'),
    ).toMatch(/bob has no usable passkey/);
  });
});

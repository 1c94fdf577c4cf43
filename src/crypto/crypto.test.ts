import { createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalizeJson } from '../core/canonicalJson.js';
import { computeActionHash } from '../core/actionHash.js';
import { signReceipt, verifyReceipt, type ReceiptPayload } from './receipt.js';
import { computeResponseSignature, verifyResponseSignature } from './responseHmac.js';
import {
  buildJwks,
  describeSigningKey,
  keyFileNames,
  loadOrCreateReceiptKey,
  loadOrCreateSigningSecret,
} from './signingKeys.js';
import { verifyApprovalResult } from './verifyApprovalResult.js';

/** Builds a Node KeyObject from a raw 32-byte Ed25519 seed (RFC 8032 §5.1.5). */
function ed25519FromSeed(seedHex: string) {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({
    key: Buffer.concat([prefix, Buffer.from(seedHex, 'hex')]),
    format: 'der',
    type: 'pkcs8',
  });
}

describe('known-answer tests', () => {
  it('Ed25519 matches RFC 8032 §7.1 tests 1 and 2', () => {
    const test1 = ed25519FromSeed(
      '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    );
    expect(sign(null, Buffer.alloc(0), test1).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    const test2 = ed25519FromSeed(
      '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    );
    expect(sign(null, Buffer.from('72', 'hex'), test2).toString('hex')).toBe(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
  });

  it('the JWS layer matches RFC 8037 Appendix A.4 (Ed25519 JWS)', async () => {
    const key = ed25519FromSeed(
      Buffer.from('nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A', 'base64url').toString('hex'),
    );
    const described = await describeSigningKey(key);
    expect(described.publicJwk.x).toBe('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo');
    const jws = await new CompactSign(new TextEncoder().encode('Example of Ed25519 signing'))
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(key);
    expect(jws).toBe(
      'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg',
    );
  });

  it('HMAC-SHA256 matches RFC 4231 test case 2', () => {
    expect(createHmac('sha256', 'Jefe').update('what do ya want for nothing?').digest('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('canonical JSON matches RFC 8785 §3.2.2 and §3.2.3', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as unknown;
    expect(canonicalizeJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    const sorted = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",' +
        '"\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ) as Record<string, string>;
    const keyOrder = [...canonicalizeJson(sorted).matchAll(/"([^"]+)":"/g)].map((m) => m[1]);
    expect(keyOrder).toEqual(['\\r', '1', '\u0080', 'ö', '€', '😀', '\ufb33']);
  });

  it('the action hash is SHA-256 of the canonical form, independent of key order', () => {
    const a = computeActionHash({ tool: 'transfer', arguments: { amount: 5, to: 'x' } });
    const b = computeActionHash({ arguments: { to: 'x', amount: 5 }, tool: 'transfer' });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(computeActionHash({ tool: 'transfer', arguments: { amount: 6, to: 'x' } })).not.toBe(a);
  });
});

describe('receipts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const payload: ReceiptPayload = {
    pause_id: 'pa_1',
    action_hash: 'b'.repeat(64),
    decision: 'approved',
    comment: 'fine',
    fields: { ref: 'INV-7', amount: 3 },
    responder: 'alice',
    responded_at: '2026-11-20T10:00:01.000Z',
    channel: 'web',
    nonce: 'c'.repeat(32),
    expires_at: '2026-11-21T10:00:00.000Z',
  };

  it('makes the key once, mode 0600, and keeps it across restarts', async () => {
    const first = await loadOrCreateReceiptKey(dir);
    const second = await loadOrCreateReceiptKey(dir);
    expect(second.kid).toBe(first.kid);
    expect(statSync(join(dir, keyFileNames.receiptKey)).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSigningSecret(dir)).toBe(loadOrCreateSigningSecret(dir));
    expect(loadOrCreateSigningSecret(dir)).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(dir, keyFileNames.signingSecret)).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSigningSecret(dir, 'from-env')).toBe('from-env');
  });

  it('signs and verifies a receipt, and refuses any change', async () => {
    const key = await loadOrCreateReceiptKey(dir);
    const jwks = buildJwks([key]);
    const jws = await signReceipt(payload, key);
    const ok = await verifyReceipt(jws, jwks);
    expect(ok).toEqual({ ok: true, value: { payload, kid: key.kid } });

    const [h, p, s] = jws.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(
      canonicalizeJson({ ...payload, decision: 'rejected' }),
    ).toString('base64url');
    expect(await verifyReceipt(`${h}.${forgedPayload}.${s}`, jwks)).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_SIGNATURE_INVALID',
    });
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    expect(await verifyReceipt(`${h}.${p}.${flipped}`, jwks)).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_SIGNATURE_INVALID',
    });
    expect(await verifyReceipt('not a jws', jwks)).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
    });

    const other = await describeSigningKey(generateKeyPairSync('ed25519').privateKey);
    expect(await verifyReceipt(jws, buildJwks([other]))).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_KEY_UNKNOWN',
    });
  });

  it('refuses a receipt signed with another algorithm or type', async () => {
    const key = await loadOrCreateReceiptKey(dir);
    const untyped = await new CompactSign(new TextEncoder().encode(canonicalizeJson(payload)))
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
      .sign(key.privateKey);
    expect(await verifyReceipt(untyped, buildJwks([key]))).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
    });
  });

  it('checks a whole check_approval result: receipt, repeated fields and HMAC', async () => {
    const key = await loadOrCreateReceiptKey(dir);
    const jwks = buildJwks([key]);
    const secret = 'shared-secret';
    const { pause_id, action_hash, expires_at, ...rest } = payload;
    const response = {
      pause_id,
      action_hash,
      decision: rest.decision,
      comment: rest.comment,
      fields: rest.fields,
      responder: rest.responder,
      responded_at: rest.responded_at,
      channel: rest.channel,
      nonce: rest.nonce,
    };
    const result = {
      pause_id,
      action_hash,
      expires_at,
      status: 'responded',
      response: { ...response, signature: computeResponseSignature(response, secret) },
      receipt: await signReceipt(payload, key),
    };
    expect(await verifyApprovalResult(result, { jwks, secret })).toMatchObject({
      ok: true,
      value: { hmacChecked: true },
    });
    expect(await verifyApprovalResult(result, { jwks })).toMatchObject({
      ok: true,
      value: { hmacChecked: false },
    });

    const edited = { ...result, response: { ...result.response, decision: 'rejected' } };
    expect(await verifyApprovalResult(edited, { jwks })).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_MISMATCH',
    });
    expect(
      await verifyApprovalResult({ ...result, action_hash: 'c'.repeat(64) }, { jwks }),
    ).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_MISMATCH',
    });
    const unbound = {
      decision: rest.decision,
      comment: rest.comment,
      fields: rest.fields,
      responder: rest.responder,
      responded_at: rest.responded_at,
      channel: rest.channel,
      nonce: rest.nonce,
    };
    const withoutIds = {
      ...result,
      response: { ...unbound, signature: computeResponseSignature({ ...unbound }, secret) },
    };
    expect(await verifyApprovalResult(withoutIds, { jwks, secret })).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_MISMATCH',
    });
    expect(await verifyApprovalResult(result, { jwks, secret: 'wrong' })).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_HMAC_INVALID',
    });
    expect(await verifyApprovalResult({ status: 'pending' }, { jwks })).toMatchObject({
      ok: false,
      code: 'E_RECEIPT_MALFORMED',
    });
  });

  it('computes the LoopPause HMAC over sorted keys, ignoring the signature field', () => {
    const response = {
      nonce: 'n',
      decision: 'approved',
      fields: { b: 1, a: 2 },
      comment: '',
      responder: 'r',
      responded_at: 't',
      channel: 'web',
    };
    const sig = computeResponseSignature(response, 'k');
    const expected = createHmac('sha256', 'k')
      .update(
        '{"channel":"web","comment":"","decision":"approved","fields":{"a":2,"b":1},"nonce":"n","responded_at":"t","responder":"r"}',
      )
      .digest('hex');
    expect(sig).toBe(`sha256=${expected}`);
    expect(verifyResponseSignature({ ...response, signature: sig }, 'k')).toBe(true);
    expect(
      verifyResponseSignature({ ...response, decision: 'rejected', signature: sig }, 'k'),
    ).toBe(false);
    expect(verifyResponseSignature({ ...response }, 'k')).toBe(false);
  });
});

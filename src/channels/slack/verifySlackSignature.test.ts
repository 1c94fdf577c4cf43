import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifySlackSignature } from './verifySlackSignature.js';

// Signed here independently of the code under test, exactly as Slack documents it
// (https://api.slack.com/authentication/verifying-requests-from-slack): hex HMAC-SHA256 of
// `v0:{timestamp}:{body}` under the signing secret, prefixed with `v0=`.
function signLikeSlack(secret: string, timestamp: string, body: string): string {
  return 'v0=' + createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
}

const secret = 'test-signing-secret-0123456789abcdef';
const nowMs = Date.UTC(2026, 10, 20, 10, 0, 0);
const nowSeconds = Math.floor(nowMs / 1000);
const body = 'payload=' + encodeURIComponent(JSON.stringify({ type: 'block_actions' }));

function check(timestampSeconds: number, signedBody: string, sentBody = signedBody) {
  const timestamp = String(timestampSeconds);
  return verifySlackSignature({
    signingSecret: secret,
    timestamp,
    rawBody: sentBody,
    signature: signLikeSlack(secret, timestamp, signedBody),
    now: nowMs,
  });
}

describe('verifySlackSignature', () => {
  it("accepts Slack's own worked example", () => {
    const exampleBody =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const result = verifySlackSignature({
      signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
      timestamp: '1531420618',
      rawBody: Buffer.from(exampleBody),
      signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
      now: 1531420618 * 1000 + 30_000,
    });
    expect(result).toEqual({ ok: true, value: { timestamp: 1531420618 } });
  });

  it('accepts a valid signature, including at exactly ±300 s', () => {
    expect(check(nowSeconds, body).ok).toBe(true);
    expect(check(nowSeconds - 300, body).ok).toBe(true);
    expect(check(nowSeconds + 300, body).ok).toBe(true);
  });

  it('refuses a timestamp 301 s in the past with the skew code, even when the signature is valid', () => {
    const result = check(nowSeconds - 301, body);
    expect(result).toMatchObject({ ok: false, code: 'E_SLACK_TIMESTAMP_INVALID' });
    expect(!result.ok && result.message).toContain('301 s in the past');
  });

  it('refuses a timestamp 301 s in the future with the skew code', () => {
    const result = check(nowSeconds + 301, body);
    expect(result).toMatchObject({ ok: false, code: 'E_SLACK_TIMESTAMP_INVALID' });
    expect(!result.ok && result.message).toContain('301 s in the future');
  });

  it('refuses a tampered body', () => {
    const tampered = body.replace('block_actions', 'block_actionz');
    expect(check(nowSeconds, body, tampered)).toMatchObject({
      ok: false,
      code: 'E_SLACK_SIGNATURE_INVALID',
    });
  });

  it('refuses a signature made with another secret', () => {
    const timestamp = String(nowSeconds);
    const result = verifySlackSignature({
      signingSecret: secret,
      timestamp,
      rawBody: body,
      signature: signLikeSlack('another-secret', timestamp, body),
      now: nowMs,
    });
    expect(result).toMatchObject({ ok: false, code: 'E_SLACK_SIGNATURE_INVALID' });
  });

  it('refuses a signature whose timestamp was changed after signing', () => {
    const signature = signLikeSlack(secret, String(nowSeconds - 10), body);
    const result = verifySlackSignature({
      signingSecret: secret,
      timestamp: String(nowSeconds),
      rawBody: body,
      signature,
      now: nowMs,
    });
    expect(result).toMatchObject({ ok: false, code: 'E_SLACK_SIGNATURE_INVALID' });
  });

  it('refuses missing or malformed headers', () => {
    const timestamp = String(nowSeconds);
    const signature = signLikeSlack(secret, timestamp, body);
    const base = { signingSecret: secret, rawBody: body, now: nowMs };
    expect(verifySlackSignature({ ...base, timestamp: undefined, signature })).toMatchObject({
      ok: false,
      code: 'E_SLACK_TIMESTAMP_INVALID',
    });
    expect(verifySlackSignature({ ...base, timestamp: '17e8', signature })).toMatchObject({
      ok: false,
      code: 'E_SLACK_TIMESTAMP_INVALID',
    });
    expect(verifySlackSignature({ ...base, timestamp, signature: null })).toMatchObject({
      ok: false,
      code: 'E_SLACK_SIGNATURE_INVALID',
    });
    expect(
      verifySlackSignature({ ...base, timestamp, signature: signature.replace('v0=', 'v1=') }),
    ).toMatchObject({ ok: false, code: 'E_SLACK_SIGNATURE_INVALID' });
    expect(
      verifySlackSignature({ ...base, timestamp, signature: signature.slice(0, -2) }),
    ).toMatchObject({ ok: false, code: 'E_SLACK_SIGNATURE_INVALID' });
  });

  it('refuses everything when no signing secret is configured', () => {
    const timestamp = String(nowSeconds);
    const result = verifySlackSignature({
      signingSecret: '',
      timestamp,
      rawBody: body,
      signature: signLikeSlack('', timestamp, body),
      now: nowMs,
    });
    expect(result).toMatchObject({ ok: false, code: 'E_SLACK_SIGNATURE_INVALID' });
  });
});

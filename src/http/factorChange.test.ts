import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppHarness, testOrigin } from '../../test/support/appHarness.js';
import { SoftAuthenticator } from '../gates/testing/softAuthenticator.js';
import { generateTotpCode } from '../gates/totpCode.js';
import { createTotpSecret } from '../gates/totpSecret.js';
import { createTotpEncryptionKey } from '../gates/totpSecretEncryption.js';
import {
  createWebAuthnService,
  relyingPartyFromPublicUrl,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type WebAuthnService,
} from '../gates/webauthn.js';
import { FactorChangeGuard } from '../service/factorChange.js';
import { TotpStepUp } from '../service/stepUp.js';
import type { SessionSource } from '../core/records.js';
import { createSettingsRoutes } from './settingsRoutes.js';
import { createWebAuthnRoutes } from './webauthnRoutes.js';

type Harness = Awaited<ReturnType<typeof createAppHarness>>;
type Auth = Awaited<ReturnType<Harness['signIn']>>;

let h: Harness;
let totp: TotpStepUp;
let webauthn: WebAuthnService;

beforeEach(async () => {
  h = await createAppHarness();
  const now = () => h.clock.now;
  totp = new TotpStepUp(h.store, createTotpEncryptionKey(), now);
  const rp = relyingPartyFromPublicUrl(testOrigin);
  webauthn = createWebAuthnService({
    store: h.store,
    rpId: rp.rpId,
    rpName: 'loopgate',
    origin: rp.origin,
    now,
  });
  const guard = new FactorChangeGuard({ store: h.store, totp, passkeys: webauthn, now });
  h.app.route('/v1', createSettingsRoutes(h.store, totp, guard));
  h.app.route('/v1', createWebAuthnRoutes(webauthn, guard));
});
afterEach(async () => {
  await h.close();
});

/** The headers a signed-in Settings page sends (one place, so a change of session carrier is one edit). */
const operatorHeaders = (auth: Auth) => ({
  'content-type': 'application/json',
  ...auth.headers,
  'x-csrf-token': auth.csrf,
  origin: testOrigin,
});

const signIn = (source: SessionSource = 'login') => h.signIn(source);

async function post(auth: Auth, path: string, body?: unknown) {
  return h.request(path, {
    method: 'POST',
    headers: operatorHeaders(auth),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

async function settings(auth: Auth) {
  const response = await h.request('/v1/settings', { headers: operatorHeaders(auth) });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    totp: { enrolled: boolean; locked: boolean };
    session: { source: string };
    factor_changes: { kind: string; name: string | null; at: string }[];
  };
}

/** A fresh TOTP code for `secret`: the clock moves one RFC 6238 step first, as codes work once. */
function nextCode(secret: string): string {
  h.clock.now += 30_000;
  return generateTotpCode({ secret, now: h.clock.now });
}

/** Can `secret` still pass the step-up check? (Through the same throttle as a decision.) */
async function secretWorks(secret: string): Promise<boolean> {
  return totp.verify(h.admin, nextCode(secret), null).then(
    () => true,
    () => false,
  );
}

/** Registers a passkey for the admin below the routes (as `loopgate`'s own set-up would). */
async function addPasskeyDirectly(name: string): Promise<SoftAuthenticator> {
  const authenticator = new SoftAuthenticator(testOrigin);
  await webauthn.verifyRegistration(
    h.admin,
    authenticator.register(await webauthn.registrationOptions(h.admin)),
    name,
  );
  return authenticator;
}

async function beginAndConfirmTotp(auth: Auth, proof: Record<string, unknown>): Promise<string> {
  const begun = await post(auth, '/v1/settings/totp/begin', proof);
  expect(begun.status, await begun.clone().text()).toBe(200);
  const start = (await begun.json()) as { uri: string; enrollment_token: string };
  const secret = new URL(start.uri).searchParams.get('secret')!;
  const confirmed = await post(auth, '/v1/settings/totp/confirm', {
    enrollment_token: start.enrollment_token,
    code: generateTotpCode({ secret, now: h.clock.now }),
  });
  expect(confirmed.status, await confirmed.clone().text()).toBe(200);
  return secret;
}

describe('replacing the authenticator app', () => {
  it('refuses a re-enrolment with only a session, and the old secret keeps working', async () => {
    const old = createTotpSecret();
    await totp.enroll(h.admin, old, 'cli');
    const auth = await signIn();

    const begun = await post(auth, '/v1/settings/totp/begin');
    expect(begun.status).toBe(403);
    expect(await errorCode(begun)).toBe('E_FACTOR_PROOF_REQUIRED');
    const wrongProof = await post(auth, '/v1/settings/totp/begin', { current_totp_code: '000000' });
    expect(await errorCode(wrongProof)).toBe('E_TOTP_CODE_INVALID');

    expect(await secretWorks(old)).toBe(true);
    const audit = (await h.store.listAuditEntries()).map((e) => e.type);
    expect(audit).toContain('operator.factor_change_refused');
    expect(audit.filter((t) => t === 'gate.totp.enrolled')).toHaveLength(1);
  });

  it('replaces it with a current code, after which only the new secret works', async () => {
    const old = createTotpSecret();
    await totp.enroll(h.admin, old, 'cli');
    const auth = await signIn();
    const fresh = await beginAndConfirmTotp(auth, { current_totp_code: nextCode(old) });
    expect(await secretWorks(old)).toBe(false);
    expect(await secretWorks(fresh)).toBe(true);
    const enrolled = (await h.store.listAuditEntries())
      .filter((e) => e.type === 'gate.totp.enrolled')
      .at(-1);
    expect(enrolled?.data).toEqual({ operator: 'admin', replaced: true, via: 'settings' });
  });

  it('does not clear a lock by re-enrolling: refused with a session, and the lock survives a proved replacement', async () => {
    const old = createTotpSecret();
    await totp.enroll(h.admin, old, 'cli');
    await h.store.updateTotpState(h.admin.id, (row) => ({
      state: { ...row.state, consecutiveFailures: 10, lockedAt: h.clock.now },
      result: null,
    }));
    const laptop = await addPasskeyDirectly('Laptop');
    const auth = await signIn();

    expect(await errorCode(await post(auth, '/v1/settings/totp/begin'))).toBe(
      'E_FACTOR_PROOF_REQUIRED',
    );
    // A locked authenticator proves nothing.
    const locked = await post(auth, '/v1/settings/totp/begin', {
      current_totp_code: nextCode(old),
    });
    expect(locked.status).toBe(423);
    expect(await errorCode(locked)).toBe('E_TOTP_LOCKED');
    expect((await settings(auth)).totp.locked).toBe(true);

    // Proved with the passkey, the new secret is stored, and it is locked just the same.
    const options = (await (
      await post(auth, '/v1/webauthn/proof/options')
    ).json()) as PublicKeyCredentialRequestOptionsJSON;
    await beginAndConfirmTotp(auth, { current_webauthn: laptop.assert(options) });
    expect((await settings(auth)).totp).toMatchObject({ enrolled: true, locked: true });
    await totp.unlock(h.admin, 'cli');
    expect((await settings(auth)).totp.locked).toBe(false);
  });
});

describe('adding a passkey', () => {
  it('refuses one with only a session once the operator has a factor, and stores nothing', async () => {
    await totp.enroll(h.admin, createTotpSecret(), 'cli');
    const auth = await signIn();
    const options = await post(auth, '/v1/webauthn/registration/options');
    expect(options.status).toBe(403);
    expect(await errorCode(options)).toBe('E_FACTOR_PROOF_REQUIRED');
    // A registration challenge was never issued, so no response can be verified.
    const attacker = new SoftAuthenticator(testOrigin);
    const forged = attacker.register({
      challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      rp: { id: relyingPartyFromPublicUrl(testOrigin).rpId, name: 'loopgate' },
      user: { id: 'dXNlcg', name: 'admin', displayName: 'admin' },
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    } as PublicKeyCredentialCreationOptionsJSON);
    const verified = await post(auth, '/v1/webauthn/registration/verify', {
      response: forged,
      name: 'Attacker',
    });
    expect(await errorCode(verified)).toBe('E_WEBAUTHN_CHALLENGE_INVALID');
    expect(await h.store.listWebAuthnCredentials(h.admin.id)).toEqual([]);
  });

  it('adds one with a current TOTP code or a current passkey, and refuses an approval’s passkey challenge as proof', async () => {
    const secret = createTotpSecret();
    await totp.enroll(h.admin, secret, 'cli');
    const auth = await signIn();

    const first = new SoftAuthenticator(testOrigin);
    const options = (await (
      await post(auth, '/v1/webauthn/registration/options', { current_totp_code: nextCode(secret) })
    ).json()) as PublicKeyCredentialCreationOptionsJSON;
    expect(
      (
        await post(auth, '/v1/webauthn/registration/verify', {
          response: first.register(options),
          name: 'Laptop',
        })
      ).status,
    ).toBe(201);

    const { pause_id } = await h.requestApproval();
    const forRequest = (await (
      await post(auth, `/v1/approvals/${pause_id}/webauthn/options`)
    ).json()) as PublicKeyCredentialRequestOptionsJSON;
    const misused = await post(auth, '/v1/webauthn/registration/options', {
      current_webauthn: first.assert(forRequest),
    });
    expect(await errorCode(misused)).toBe('E_WEBAUTHN_CHALLENGE_INVALID');

    const proof = (await (
      await post(auth, '/v1/webauthn/proof/options')
    ).json()) as PublicKeyCredentialRequestOptionsJSON;
    const second = new SoftAuthenticator(testOrigin);
    const more = (await (
      await post(auth, '/v1/webauthn/registration/options', {
        current_webauthn: first.assert(proof),
      })
    ).json()) as PublicKeyCredentialCreationOptionsJSON;
    expect(
      (
        await post(auth, '/v1/webauthn/registration/verify', {
          response: second.register(more),
          name: 'Phone',
        })
      ).status,
    ).toBe(201);
    expect((await h.store.listWebAuthnCredentials(h.admin.id)).map((p) => p.name)).toEqual([
      'Laptop',
      'Phone',
    ]);
  });
});

describe('the first factor', () => {
  it('is refused from a plain sign-in session, for an authenticator and for a passkey', async () => {
    const auth = await signIn('login');
    const begun = await post(auth, '/v1/settings/totp/begin');
    expect(begun.status).toBe(403);
    expect(await errorCode(begun)).toBe('E_FACTOR_FIRST_NEEDS_INVITE');
    expect(await errorCode(await post(auth, '/v1/webauthn/registration/options'))).toBe(
      'E_FACTOR_FIRST_NEEDS_INVITE',
    );
    expect((await settings(auth)).totp.enrolled).toBe(false);
  });

  it('is allowed from an invite session, and then a second one needs the first', async () => {
    const auth = await signIn('invite');
    expect((await settings(auth)).session.source).toBe('invite');
    const secret = await beginAndConfirmTotp(auth, {});
    expect(await secretWorks(secret)).toBe(true);
    // The invite session is no blank cheque: now that a factor exists, it must be proved.
    expect(await errorCode(await post(auth, '/v1/webauthn/registration/options'))).toBe(
      'E_FACTOR_PROOF_REQUIRED',
    );
  });

  it('is allowed from a `login-url --enroll` session', async () => {
    const auth = await signIn('enroll');
    const options = await post(auth, '/v1/webauthn/registration/options');
    expect(options.status).toBe(200);
  });
});

describe('the notice of a new factor', () => {
  it('lists a passkey and an authenticator added lately, newest first, and forgets them after 14 days', async () => {
    const auth = await signIn('invite');
    const secret = await beginAndConfirmTotp(auth, {});
    const totpAt = new Date(h.clock.now).toISOString();
    const options = (await (
      await post(auth, '/v1/webauthn/registration/options', { current_totp_code: nextCode(secret) })
    ).json()) as PublicKeyCredentialCreationOptionsJSON;
    expect(
      (
        await post(auth, '/v1/webauthn/registration/verify', {
          response: new SoftAuthenticator(testOrigin).register(options),
          name: 'Not mine',
        })
      ).status,
    ).toBe(201);

    expect((await settings(auth)).factor_changes).toEqual([
      { kind: 'passkey', name: 'Not mine', at: new Date(h.clock.now).toISOString() },
      { kind: 'totp', name: null, at: totpAt },
    ]);
    const audit = (await h.store.listAuditEntries()).map((e) => e.type);
    expect(audit).toEqual(
      expect.arrayContaining(['gate.totp.enrolled', 'gate.webauthn.registered']),
    );

    h.clock.now += 15 * 24 * 3_600_000;
    const later = await signIn();
    expect((await settings(later)).factor_changes).toEqual([]);
  });
});

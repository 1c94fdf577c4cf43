import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppHarness, testOrigin } from '../../test/support/appHarness.js';
import { SoftAuthenticator } from '../gates/testing/softAuthenticator.js';
import {
  createWebAuthnService,
  relyingPartyFromPublicUrl,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type WebAuthnService,
} from '../gates/webauthn.js';
import { FactorChangeGuard } from '../service/factorChange.js';
import { createWebAuthnRoutes } from './webauthnRoutes.js';

type Harness = Awaited<ReturnType<typeof createAppHarness>>;

let h: Harness;
let webauthn: WebAuthnService;
let auth: { session: string; csrf: string };

beforeEach(async () => {
  h = await createAppHarness();
  const rp = relyingPartyFromPublicUrl(testOrigin);
  webauthn = createWebAuthnService({
    store: h.store,
    rpId: rp.rpId,
    rpName: 'loopgate',
    origin: rp.origin,
    now: () => h.clock.now,
  });
  h.app.route(
    '/v1',
    createWebAuthnRoutes(
      webauthn,
      new FactorChangeGuard({
        store: h.store,
        totp: null,
        passkeys: webauthn,
        now: () => h.clock.now,
      }),
    ),
  );
  // An invite session: the admin has no factor yet and adds the first passkey here
  // (factorChange.test.ts covers who may add which factor).
  auth = await h.signIn('invite');
});
afterEach(async () => {
  await h.close();
});

const asOperator = (extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  'x-loopgate-session': auth.session,
  'x-csrf-token': auth.csrf,
  origin: testOrigin,
  ...extra,
});

async function post(path: string, body?: unknown, headers: Record<string, string> = asOperator()) {
  return h.request(path, {
    method: 'POST',
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

async function registerThroughApi(name: string): Promise<SoftAuthenticator> {
  const options = (await (
    await post('/v1/webauthn/registration/options')
  ).json()) as PublicKeyCredentialCreationOptionsJSON;
  const authenticator = new SoftAuthenticator(testOrigin);
  const verified = await post('/v1/webauthn/registration/verify', {
    response: authenticator.register(options),
    name,
  });
  expect(verified.status, await verified.clone().text()).toBe(201);
  return authenticator;
}

describe('passkey routes', () => {
  it('registers a passkey and lists it for the signed-in operator', async () => {
    const options = await post('/v1/webauthn/registration/options');
    expect(options.status).toBe(200);
    const creation = (await options.json()) as PublicKeyCredentialCreationOptionsJSON;
    expect(creation.user.name).toBe(h.admin.name);
    expect(creation.authenticatorSelection?.userVerification).toBe('required');

    const authenticator = new SoftAuthenticator(testOrigin);
    const verified = await post('/v1/webauthn/registration/verify', {
      response: authenticator.register(creation),
      name: 'This device',
    });
    expect(verified.status).toBe(201);
    expect(await verified.json()).toEqual({
      id: authenticator.id,
      name: 'This device',
      created_at: new Date(h.clock.now).toISOString(),
      last_used_at: null,
      flagged: false,
    });

    const list = await h.request('/v1/webauthn/credentials', {
      headers: { 'x-loopgate-session': auth.session },
    });
    expect(list.status).toBe(200);
    expect(
      ((await list.json()) as { items: { id: string; name: string }[] }).items.map((p) => [
        p.id,
        p.name,
      ]),
    ).toEqual([[authenticator.id, 'This device']]);
  });

  it('issues assertion options bound to the request, which verify for it and for no other', async () => {
    const authenticator = await registerThroughApi('Laptop');
    const a = await h.requestApproval();
    const b = await h.requestApproval({ action_description: 'Something else' });
    const response = await post(`/v1/approvals/${a.pause_id}/webauthn/options`);
    expect(response.status).toBe(200);
    const options = (await response.json()) as PublicKeyCredentialRequestOptionsJSON;
    expect(options.userVerification).toBe('required');
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([authenticator.id]);

    const assertion = authenticator.assert(options);
    await expect(
      webauthn.verifyAssertion({
        operatorId: h.admin.id,
        requestId: b.pause_id,
        response: assertion,
        now: h.clock.now,
      }),
    ).rejects.toMatchObject({
      code: 'E_WEBAUTHN_CHALLENGE_INVALID',
    });
    const fresh = authenticator.assert(
      (await (
        await post(`/v1/approvals/${a.pause_id}/webauthn/options`)
      ).json()) as PublicKeyCredentialRequestOptionsJSON,
    );
    await expect(
      webauthn.verifyAssertion({
        operatorId: h.admin.id,
        requestId: a.pause_id,
        response: fresh,
        now: h.clock.now,
      }),
    ).resolves.toEqual({
      credentialId: authenticator.id,
    });
  });

  it('answers 404 for options on an unknown request and 409 for an operator without passkeys', async () => {
    const missing = await post('/v1/approvals/pa_nope/webauthn/options');
    expect(missing.status).toBe(404);
    expect(await errorCode(missing)).toBe('E_APPROVAL_NOT_FOUND');
    const { pause_id } = await h.requestApproval();
    const none = await post(`/v1/approvals/${pause_id}/webauthn/options`);
    expect(none.status).toBe(409);
    expect(await errorCode(none)).toBe('E_WEBAUTHN_NOT_REGISTERED');
  });

  it('refuses a registration that does not verify (400) and a body that is not JSON of the shape', async () => {
    const options = (await (
      await post('/v1/webauthn/registration/options')
    ).json()) as PublicKeyCredentialCreationOptionsJSON;
    const phishing = new SoftAuthenticator('https://evil.example');
    const refused = await post('/v1/webauthn/registration/verify', {
      response: phishing.register(options),
      name: 'x',
    });
    expect(refused.status).toBe(400);
    expect(await errorCode(refused)).toBe('E_WEBAUTHN_REGISTRATION_INVALID');

    const notJson = await h.request('/v1/webauthn/registration/verify', {
      method: 'POST',
      headers: asOperator(),
      body: 'nope',
    });
    expect(notJson.status).toBe(400);
    expect(await errorCode(notJson)).toBe('E_HTTP_BODY_INVALID');
    const noName = await post('/v1/webauthn/registration/verify', { response: {} });
    expect(await errorCode(noName)).toBe('E_HTTP_BODY_INVALID');
    const list = await h.request('/v1/webauthn/credentials', {
      headers: { 'x-loopgate-session': auth.session },
    });
    expect(((await list.json()) as { items: unknown[] }).items).toEqual([]);
  });

  it('refuses anonymous callers (401), agent keys (403) and POSTs without the CSRF token (403)', async () => {
    const { pause_id } = await h.requestApproval();
    const routes: [string, string][] = [
      ['POST', '/v1/webauthn/registration/options'],
      ['POST', '/v1/webauthn/registration/verify'],
      ['GET', '/v1/webauthn/credentials'],
      ['POST', `/v1/approvals/${pause_id}/webauthn/options`],
    ];
    for (const [method, path] of routes) {
      const anonymous = await h.request(path, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      const agent = await h.request(path, {
        method,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${h.agent.key}`,
          'x-csrf-token': auth.csrf,
        },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      expect(agent.status, `${method} ${path}`).toBe(403);
      expect(await errorCode(agent)).toBe('E_AUTH_FORBIDDEN');
      if (method === 'POST') {
        const noCsrf = await post(
          path,
          {},
          {
            'content-type': 'application/json',
            'x-loopgate-session': auth.session,
            origin: testOrigin,
          },
        );
        expect(noCsrf.status, `${method} ${path}`).toBe(403);
        expect(await errorCode(noCsrf)).toBe('E_CSRF_TOKEN_INVALID');
      }
    }
    // Nothing was issued or stored by the refused calls.
    expect(await webauthn.listCredentials(h.admin)).toEqual([]);
  });
});

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyApprovalResult } from '../crypto/verifyApprovalResult.js';
import { createAppHarness, testOrigin } from '../../test/support/appHarness.js';

type Harness = Awaited<ReturnType<typeof createAppHarness>>;

let h: Harness;
beforeEach(async () => {
  h = await createAppHarness();
});
afterEach(async () => {
  await h.close();
});

const json = { 'content-type': 'application/json' };

async function decide(
  id: string,
  auth: { session: string; csrf: string },
  body: Record<string, unknown> = { decision: 'approved', comment: 'ok' },
  extraHeaders: Record<string, string> = {},
) {
  return h.request(`/v1/approvals/${id}/decision`, {
    method: 'POST',
    headers: {
      ...json,
      'x-loopgate-session': auth.session,
      'x-csrf-token': auth.csrf,
      origin: testOrigin,
      ...extraHeaders,
    },
    body: JSON.stringify(body),
  });
}

describe('no self-approval: agents can ask but never decide', () => {
  it('refuses a decision made with an agent key (403), even with a valid session CSRF token', async () => {
    const { pause_id } = await h.requestApproval();
    const { csrf } = await h.signIn();
    const response = await h.request(`/v1/approvals/${pause_id}/decision`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${h.agent.key}`, 'x-csrf-token': csrf },
      body: JSON.stringify({ decision: 'approved' }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'E_AUTH_FORBIDDEN',
    );
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
  });

  it('refuses a decision with no session (401) — the approval_url grants nothing by itself', async () => {
    const { pause_id, approval_url } = await h.requestApproval();
    const page = await h.request(new URL(approval_url).pathname);
    expect(page.status).toBe(200); // the page shell loads, but it can do nothing without a session
    const response = await h.request(`/v1/approvals/${pause_id}/decision`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ decision: 'approved' }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'E_AUTH_REQUIRED',
    );
    expect((await h.request(`/v1/approvals/${pause_id}`)).status).toBe(401);
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
  });

  it('refuses a forged or revoked agent key on every route', async () => {
    for (const [method, path] of [
      ['POST', '/v1/approvals'],
      ['GET', '/v1/approvals'],
      ['POST', '/v1/approvals/pa_x/decision'],
    ] as const) {
      const response = await h.request(path, {
        method,
        headers: { ...json, authorization: 'Bearer lg_forged' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'E_AUTH_KEY_INVALID',
      );
    }
    await h.store.revokeAgentKey((await h.store.listAgentKeys())[0]!.id, Date.now());
    const revoked = await h.request('/v1/approvals', {
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    expect(revoked.status).toBe(401);
  });

  it('offers no decision route through MCP: the tool list has none', async () => {
    const response = await h.request('/mcp', {
      method: 'POST',
      headers: {
        ...json,
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${h.agent.key}`,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    const text = await response.text();
    const names = [...text.matchAll(/"name":"([a-z_]+)"/g)].map((m) => m[1]);
    expect(names).toEqual(
      expect.arrayContaining([
        'request_approval',
        'check_approval',
        'wait_for_approval',
        'cancel_approval',
        'verify_receipt',
      ]),
    );
    expect(
      names.filter(
        (n) =>
          /approve|decide|respond/.test(n!) &&
          n !== 'request_approval' &&
          n !== 'check_approval' &&
          n !== 'wait_for_approval' &&
          n !== 'cancel_approval',
      ),
    ).toEqual([]);
  });

  it('refuses /mcp without an agent key, with a WWW-Authenticate challenge', async () => {
    const response = await h.request('/mcp', { method: 'POST', headers: json, body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });
});

describe('sign-in and session', () => {
  /** Posts a link's token to `POST /v1/login` as the sign-in page does. */
  async function postLogin(token: string, next?: string, headers: Record<string, string> = {}) {
    return h.request('/v1/login', {
      method: 'POST',
      headers: { ...json, origin: testOrigin, 'sec-fetch-site': 'same-origin', ...headers },
      body: JSON.stringify(next === undefined ? { token } : { token, next }),
    });
  }
  const newLinkToken = async () => {
    const { createLoginUrl } = await import('../service/operatorAuth.js');
    return new URL(
      await createLoginUrl(h.store, h.admin, testOrigin, h.clock.now),
    ).searchParams.get('token')!;
  };
  const codeOf = async (response: Response) =>
    ((await response.json()) as { error: { code: string } }).error.code;

  it('signs in with a one-time link that works once, handing the page a session secret and setting no cookie', async () => {
    const { response, session } = await h.signIn();
    expect(response.status).toBe(200);
    expect(response.headers.get('set-cookie')).toBeNull();
    expect(await response.json()).toMatchObject({
      session,
      next: '/',
      operator: { name: 'admin' },
    });
    const me = await h.request('/v1/session', { headers: { 'x-loopgate-session': session } });
    expect(me.status).toBe(200);
  });

  it('only shows a page on GET and HEAD of a sign-in link: an unfurler spends nothing', async () => {
    const token = await newLinkToken();
    for (const method of ['GET', 'HEAD']) {
      const page = await h.request(`/login?token=${token}&next=/settings`, { method });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(page.headers.get('set-cookie')).toBeNull();
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const first = await postLogin(token, '/settings');
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ next: '/settings' });
    const second = await postLogin(token);
    expect(second.status).toBe(401);
    expect(await codeOf(second)).toBe('E_AUTH_LOGIN_TOKEN_INVALID');
  });

  it('refuses a used, expired or forged link with the reason', async () => {
    const token = await newLinkToken();
    expect((await postLogin(token)).status).toBe(200);
    expect(
      ((await (await postLogin(token)).json()) as { error: { message: string } }).error.message,
    ).toMatch(/already used/);
    const old = await newLinkToken();
    h.clock.now += 15 * 60_000 + 1;
    expect(
      ((await (await postLogin(old)).json()) as { error: { message: string } }).error.message,
    ).toMatch(/expired/);
    expect(await codeOf(await postLogin('abc'))).toBe('E_AUTH_LOGIN_TOKEN_INVALID');
  });

  it('refuses a next that leaves this origin or has control characters, before spending the token', async () => {
    const token = await newLinkToken();
    for (const next of [
      '//evil.example/x',
      '/\\evil.example',
      '/\t/evil.example',
      '/%09/evil.example',
      '/\n',
      'https://evil.example/',
      '/ok x',
      'relative',
      '/\u0000',
    ]) {
      const decoded = next.startsWith('/%') ? decodeURIComponent(next) : next;
      const refused = await postLogin(token, decoded);
      expect(refused.status, JSON.stringify(decoded)).toBe(400);
      expect(await codeOf(refused)).toBe('E_AUTH_NEXT_INVALID');
    }
    const signedIn = await postLogin(token, '/approvals/apr_1?x=1#top');
    expect(signedIn.status).toBe(200);
    expect(await signedIn.json()).toMatchObject({ next: '/approvals/apr_1?x=1#top' });
  });

  it('refuses a sign-in posted from another origin (Fetch Metadata) without spending the token', async () => {
    const token = await newLinkToken();
    for (const site of ['same-site', 'cross-site', 'none']) {
      const refused = await postLogin(token, '/', { 'sec-fetch-site': site });
      expect(refused.status).toBe(403);
      expect(await codeOf(refused)).toBe('E_HTTP_FETCH_SITE_FORBIDDEN');
    }
    expect((await postLogin(token)).status).toBe(200);
  });

  it('never reads a cookie for authority, not even one holding the real session secret', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    const cookie = `loopgate_session=${auth.session}`;
    expect((await h.request('/v1/session', { headers: { cookie } })).status).toBe(401);
    expect((await h.request('/v1/approvals', { headers: { cookie } })).status).toBe(401);
    const decided = await h.request(`/v1/approvals/${pause_id}/decision`, {
      method: 'POST',
      headers: { ...json, cookie, 'x-csrf-token': auth.csrf },
      body: JSON.stringify({ decision: 'approved' }),
    });
    expect(decided.status).toBe(401);
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
  });

  it('refuses a state-changing request with a valid session header but Sec-Fetch-Site same-site or cross-site', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    for (const site of ['same-site', 'cross-site', 'none']) {
      const refused = await decide(pause_id, auth, undefined, { 'sec-fetch-site': site });
      expect(refused.status).toBe(403);
      expect(await codeOf(refused)).toBe('E_HTTP_FETCH_SITE_FORBIDDEN');
    }
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
    // Reading stays allowed (a GET changes nothing), and loopgate's own pages pass.
    expect(
      (
        await h.request('/v1/session', {
          headers: { ...auth.headers, 'sec-fetch-site': 'cross-site' },
        })
      ).status,
    ).toBe(200);
    expect(
      (await decide(pause_id, auth, undefined, { 'sec-fetch-site': 'same-origin' })).status,
    ).toBe(200);
  });

  it('requires the CSRF token on every state-changing request', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    const missing = await decide(pause_id, { session: auth.session, csrf: '' });
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe(
      'E_CSRF_TOKEN_INVALID',
    );
    const wrong = await decide(pause_id, {
      session: auth.session,
      csrf: `${auth.csrf.slice(0, -1)}x`,
    });
    expect(wrong.status).toBe(403);
    const logout = await h.request('/v1/logout', {
      method: 'POST',
      headers: { 'x-loopgate-session': auth.session },
    });
    expect(logout.status).toBe(403);
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
  });

  it('ends the session on sign-out', async () => {
    const auth = await h.signIn();
    const out = await h.request('/v1/logout', {
      method: 'POST',
      headers: { 'x-loopgate-session': auth.session, 'x-csrf-token': auth.csrf },
    });
    expect(out.status).toBe(204);
    expect(
      (await h.request('/v1/session', { headers: { 'x-loopgate-session': auth.session } })).status,
    ).toBe(401);
  });
});

describe('DNS rebinding and cross-site guards', () => {
  it('refuses a Host that is not this server', async () => {
    const response = await h.app.request('/healthz', {
      headers: { host: 'attacker.example:7878' },
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'E_HTTP_HOST_FORBIDDEN',
    );
    expect((await h.app.request('/healthz')).status).toBe(403); // no Host at all
  });

  it('refuses a request from another origin, even a signed-in one', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    const response = await decide(
      pause_id,
      auth,
      { decision: 'approved' },
      { origin: 'http://attacker.example' },
    );
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'E_HTTP_ORIGIN_FORBIDDEN',
    );
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
  });

  it('serves pages with a strict Content-Security-Policy', async () => {
    const response = await h.request('/');
    expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(response.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  });
});

describe('deciding', () => {
  it('approves with fields and comment, returning a receipt that verifies offline', async () => {
    const { pause_id } = await h.requestApproval({
      fields: [{ name: 'ref', label: 'Reference', type: 'string', required: true }],
    });
    const auth = await h.signIn();
    const response = await decide(pause_id, auth, {
      decision: 'approved',
      comment: 'go',
      fields: { ref: 'INV-7' },
    });
    expect(response.status).toBe(200);
    const view = (await response.json()) as Record<string, unknown> & {
      response: Record<string, unknown>;
    };
    expect(view.status).toBe('responded');
    expect(view.response).toMatchObject({
      decision: 'approved',
      comment: 'go',
      fields: { ref: 'INV-7' },
      responder: 'admin',
      channel: 'web',
    });
    const verified = await verifyApprovalResult(view, { jwks: h.jwks, secret: h.signingSecret });
    expect(verified).toMatchObject({
      ok: true,
      value: { hmacChecked: true, payload: { pause_id, decision: 'approved' } },
    });
  });

  it('refuses approval without a required field, and a field of the wrong type', async () => {
    const { pause_id } = await h.requestApproval({
      fields: [
        { name: 'ref', label: 'Reference', type: 'string', required: true },
        { name: 'qty', label: 'Quantity', type: 'number' },
      ],
    });
    const auth = await h.signIn();
    const missing = await decide(pause_id, auth, { decision: 'approved' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(
      /Reference.*required/,
    );
    const wrongType = await decide(pause_id, auth, {
      decision: 'approved',
      fields: { ref: 'x', qty: 'seven' },
    });
    expect(((await wrongType.json()) as { error: { message: string } }).error.message).toMatch(
      /qty.*number/,
    );
    const unknown = await decide(pause_id, auth, {
      decision: 'approved',
      fields: { ref: 'x', bogus: 1 },
    });
    expect(unknown.status).toBe(400);
    const badDecision = await decide(pause_id, auth, { decision: 'maybe' });
    expect(((await badDecision.json()) as { error: { code: string } }).error.code).toBe(
      'E_DECISION_INVALID',
    );
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
    const rejected = await decide(pause_id, auth, { decision: 'rejected', comment: 'no' });
    expect(rejected.status).toBe(200);
  });

  it('lets one decision win: a second is refused with 409 and changes nothing', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    expect((await decide(pause_id, auth, { decision: 'rejected', comment: 'no' })).status).toBe(
      200,
    );
    const second = await decide(pause_id, auth, { decision: 'approved' });
    expect(second.status).toBe(409);
    expect(
      ((await second.json()) as { error: { code: string; message: string } }).error,
    ).toMatchObject({
      code: 'E_APPROVAL_ALREADY_DECIDED',
      message: expect.stringMatching(/already rejected by admin/),
    });
    expect((await h.service.getApproval(pause_id)).response?.decision).toBe('rejected');
  });

  it('lets exactly one of 1,000 concurrent HTTP decisions change the state', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    const responses = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        decide(pause_id, auth, { decision: i % 2 ? 'approved' : 'rejected' }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(999);
    const decided = (await h.store.listAuditEntries()).filter(
      (e) => e.type === 'approval.decided' && e.requestId === pause_id,
    );
    expect(decided).toHaveLength(1);
  });

  it('refuses to decide an expired request, which reads timed_out', async () => {
    const { pause_id } = await h.requestApproval({ timeout_hours: 1 });
    const auth = await h.signIn();
    h.clock.now += 3_600_000;
    const response = await decide(pause_id, auth);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'E_APPROVAL_EXPIRED',
    );
    const view = (await (
      await h.request(`/v1/approvals/${pause_id}`, {
        headers: { 'x-loopgate-session': auth.session },
      })
    ).json()) as { status: string };
    expect(view.status).toBe('timed_out');
  });

  it('refuses to decide a cancelled request', async () => {
    const { pause_id } = await h.requestApproval();
    const cancel = await h.request(`/v1/approvals/${pause_id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    expect(((await cancel.json()) as { status: string }).status).toBe('expired');
    const auth = await h.signIn();
    const response = await decide(pause_id, auth);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /cancelled/,
    );
  });
});

describe('agents', () => {
  it('refuses malformed request_approval input with what was wrong', async () => {
    const response = await h.request('/v1/approvals', {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${h.agent.key}` },
      body: JSON.stringify({
        action_description: '',
        action_details: { a: 5 },
        timeout_hours: 500,
      }),
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('E_APPROVAL_INPUT_INVALID');
    expect(error.message).toMatch(/action_description/);
    expect(error.message).toMatch(/timeout_hours/);
    const notJson = await h.request('/v1/approvals', {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${h.agent.key}` },
      body: '{',
    });
    expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe(
      'E_HTTP_BODY_INVALID',
    );
    expect(await h.store.listApprovals({ limit: 10 })).toEqual([]);
  });

  it('sees only its own requests', async () => {
    const { createAgentKey } = await import('../service/operatorAuth.js');
    const other = await createAgentKey(h.store, 'cursor', Date.now());
    const mine = await h.requestApproval();
    const asOther = await h.request(`/v1/approvals/${mine.pause_id}`, {
      headers: { authorization: `Bearer ${other.key}` },
    });
    expect(asOther.status).toBe(404);
    const list = (await (
      await h.request('/v1/approvals', { headers: { authorization: `Bearer ${other.key}` } })
    ).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
    const cancel = await h.request(`/v1/approvals/${mine.pause_id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.key}` },
    });
    expect(cancel.status).toBe(404);
  });

  it('wakes a long-poll the moment a human decides', async () => {
    const { pause_id } = await h.requestApproval();
    const auth = await h.signIn();
    const started = Date.now();
    const waiting = h.request(`/v1/approvals/${pause_id}/wait?max_wait_seconds=30`, {
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    await new Promise((r) => setTimeout(r, 50));
    await decide(pause_id, auth);
    const view = (await (await waiting).json()) as {
      status: string;
      response: { decision: string };
    };
    expect(view.status).toBe('responded');
    expect(view.response.decision).toBe('approved');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('returns a pending long-poll after max_wait_seconds, and refuses a bad value', async () => {
    const { pause_id } = await h.requestApproval();
    const view = (await (
      await h.request(`/v1/approvals/${pause_id}/wait?max_wait_seconds=0.2`, {
        headers: { authorization: `Bearer ${h.agent.key}` },
      })
    ).json()) as { status: string };
    expect(view.status).toBe('pending');
    const bad = await h.request(`/v1/approvals/${pause_id}/wait?max_wait_seconds=soon`, {
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    expect(bad.status).toBe(400);
  });

  it('serves the JWKS the receipts verify against', async () => {
    const response = await h.request('/.well-known/loopgate/jwks.json');
    const jwks = (await response.json()) as { keys: { kty: string; crv: string; kid: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: h.jwks.keys[0]!.kid });
  });
});

describe('inbox events', () => {
  /** A ticket for the event stream, as events.js gets one before each (re)connect. */
  async function eventTicket(headers: Record<string, string>) {
    const issued = await h.request('/v1/events/tickets', {
      method: 'POST',
      headers: { ...headers, origin: testOrigin },
    });
    expect(issued.status).toBe(200);
    return ((await issued.json()) as { ticket: string }).ticket;
  }

  it('streams every change to a signed-in operator as server-sent events', async () => {
    const auth = await h.signIn();
    const ticket = await eventTicket({ ...auth.headers, 'x-csrf-token': auth.csrf });
    const response = await h.request(`/v1/events?ticket=${ticket}`);
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(buffer)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += decoder.decode(value);
      }
    };
    await readUntil(/event: ready/);
    const { pause_id } = await h.requestApproval();
    await readUntil(
      new RegExp(`event: approval\\ndata: .*"pause_id":"${pause_id}".*"status":"pending"`),
    );
    await decide(pause_id, auth);
    await readUntil(new RegExp(`"pause_id":"${pause_id}".*"status":"responded"`));
    await reader.cancel();
  });

  it('takes an event ticket once, and not after 60 seconds, altered, or after sign-out', async () => {
    const auth = await h.signIn();
    const headers = { ...auth.headers, 'x-csrf-token': auth.csrf };
    const once = await eventTicket(headers);
    const first = await h.request(`/v1/events?ticket=${once}`);
    expect(first.status).toBe(200);
    await first.body!.cancel();
    const replay = await h.request(`/v1/events?ticket=${once}`);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe(
      'E_AUTH_TICKET_INVALID',
    );

    const stale = await eventTicket(headers);
    h.clock.now += 60_000;
    expect((await h.request(`/v1/events?ticket=${stale}`)).status).toBe(401);

    // A ticket whose expiry was pushed out keeps its MAC no more.
    const [payload, mac] = (await eventTicket(headers)).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as {
      e: number;
    };
    const extended = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 3_600_000 })).toString(
      'base64url',
    );
    expect((await h.request(`/v1/events?ticket=${extended}.${mac}`)).status).toBe(401);

    const orphan = await eventTicket(headers);
    expect(
      (
        await h.request('/v1/logout', {
          method: 'POST',
          headers: { ...headers, origin: testOrigin },
        })
      ).status,
    ).toBe(204);
    expect((await h.request(`/v1/events?ticket=${orphan}`)).status).toBe(401);
    expect((await h.request('/v1/events?ticket=forged')).status).toBe(401);
  });

  it('issues event tickets only to a signed-in operator with the CSRF token', async () => {
    const auth = await h.signIn();
    expect((await h.request('/v1/events/tickets', { method: 'POST' })).status).toBe(401);
    expect(
      (
        await h.request('/v1/events/tickets', {
          method: 'POST',
          headers: { cookie: `loopgate_session=${auth.session}` },
        })
      ).status,
    ).toBe(401);
    expect(
      (await h.request('/v1/events/tickets', { method: 'POST', headers: auth.headers })).status,
    ).toBe(403);
    expect(
      (
        await h.request('/v1/events/tickets', {
          method: 'POST',
          headers: { authorization: `Bearer ${h.agent.key}` },
        })
      ).status,
    ).toBe(403);
  });

  it('refuses the event stream to agents', async () => {
    const response = await h.request('/v1/events', {
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    expect(response.status).toBe(403);
  });
});

describe('errors', () => {
  it('answers an unknown route with E_HTTP_NOT_FOUND', async () => {
    const response = await h.request('/v1/nope');
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'E_HTTP_NOT_FOUND',
    );
  });

  it('answers an unexpected failure with a generic 500 that leaks nothing', async () => {
    const { pause_id } = await h.requestApproval();
    await h.store.close(); // every store call now throws from inside better-sqlite3
    const response = await h.request(`/v1/approvals/${pause_id}`, {
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({
      error: { code: 'E_HTTP_INTERNAL', message: 'Internal error; see the server log.' },
    });
    expect(body).not.toMatch(/database|sqlite|stack|at /i);
    h.store.close = async () => undefined; // already closed
  });
});

describe('health endpoints for a load balancer', () => {
  it('answers /healthz while alive and /readyz while the database answers with every migration', async () => {
    expect((await h.request('/healthz')).status).toBe(200);
    const ready = await h.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, schema_version: expect.any(Number) });
  });

  it('answers /readyz with 503 E_STORE_SCHEMA_OUTDATED when the database lacks migrations', async () => {
    // What an older loopgate's database looks like to this server.
    const db = new Database(join(h.dataDir, 'loopgate.db'));
    db.pragma('user_version = 2');
    db.close();
    const response = await h.request('/readyz');
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('E_STORE_SCHEMA_OUTDATED');
    expect(body.error.message).toMatch(/loopgate db migrate/);
    expect((await h.request('/healthz')).status).toBe(200);
  });
});

import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeBase64url } from './base64url.js';
import { isE2eeError } from './e2eeError.js';
import { createE2eeSession } from './e2eeSession.js';
import { generateFragmentSecret, readFragmentSecret } from './fragmentSecret.js';

const text = (b: Uint8Array | null): string | null => (b ? new TextDecoder().decode(b) : null);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

async function expectE2eeError(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isE2eeError(err), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

/** Two ends with the same secret, hellos and confirmations exchanged as a relay would. */
async function connectedPair(sessionId = 'ho_test', secret = generateFragmentSecret()) {
  const agent = await createE2eeSession({ role: 'agent', sessionId, fragmentSecret: secret });
  const viewer = await createE2eeSession({ role: 'viewer', sessionId, fragmentSecret: secret });
  const agentHello = await agent.hello();
  const viewerHello = await viewer.hello();
  const agentConfirm = await agent.acceptHello(viewerHello);
  const viewerConfirm = await viewer.acceptHello(agentHello);
  await agent.acceptConfirm(viewerConfirm);
  await viewer.acceptConfirm(agentConfirm);
  return { agent, viewer, secret, agentHello, viewerHello, agentConfirm, viewerConfirm };
}

/**
 * An independent implementation (node:crypto) of the hello tag from the protocol text, so a
 * test can forge a correctly tagged hello carrying any bytes as the public key.
 */
function tagHello(
  secret: string,
  sessionId: string,
  roleByte: number,
  publicKey: Uint8Array,
): Uint8Array {
  const k = Buffer.from(secret, 'base64url');
  const sid = Buffer.from(sessionId, 'utf8');
  const authKey = Buffer.from(
    hkdfSync(
      'sha256',
      k,
      Buffer.from('loopgate-e2ee-v1 hello'),
      Buffer.concat([Buffer.from('loopgate-e2ee-v1 hello-auth'), sid]),
      32,
    ),
  );
  const len = Buffer.from([sid.length >> 8, sid.length & 0xff]);
  const tag = createHmac('sha256', authKey)
    .update(
      Buffer.concat([
        Buffer.from('loopgate-e2ee-v1 hello'),
        len,
        sid,
        Buffer.from([roleByte]),
        publicKey,
      ]),
    )
    .digest();
  return Buffer.concat([Buffer.from([1, 1, roleByte]), publicKey, tag]);
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('E2EE handshake and round trip', () => {
  it('confirms both sides and carries payloads both ways, byte for byte', async () => {
    const { agent, viewer } = await connectedPair();
    expect(agent.isConfirmed).toBe(true);
    expect(viewer.isConfirmed).toBe(true);
    const frame = randomBytes(200_000);
    expect(Buffer.from((await viewer.open(await agent.seal(frame)))!)).toEqual(frame);
    expect(
      text(await agent.open(await viewer.seal(bytes('{"type":"insertText","text":"123456"}')))),
    ).toBe('{"type":"insertText","text":"123456"}');
    expect(agent.droppedCount + viewer.droppedCount).toBe(0);
  });

  it('numbers messages 0, 1, 2… per direction, and the ciphertext never contains the plaintext', async () => {
    const { agent, viewer } = await connectedPair();
    const sealed = [
      await agent.seal(bytes('a')),
      await agent.seal(bytes('b')),
      await viewer.seal(bytes('c')),
    ];
    const seqOf = (m: Uint8Array) => Buffer.from(m).readBigUInt64BE(3);
    expect(sealed.map(seqOf)).toEqual([0n, 1n, 0n]);
    expect(sealed.map((m) => m[2])).toEqual([1, 1, 2]);
    const secret = bytes('hunter2-secret-otp');
    const ct = Buffer.from(await viewer.seal(secret));
    expect(ct.includes(Buffer.from(secret))).toBe(false);
  });

  it('resolves concurrent seals in call order so sending on resolve keeps the wire order', async () => {
    const { agent, viewer } = await connectedPair();
    const wire: Uint8Array[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        agent.seal(i % 2 ? randomBytes(100_000) : bytes(`m${i}`)).then((m) => wire.push(m)),
      ),
    );
    const opened = await Promise.all(wire.map((m) => viewer.open(m)));
    expect(opened.every((p) => p !== null)).toBe(true);
    expect(text(opened[4]!)).toBe('m4');
  });

  it('handles a confirmation that arrives while the hello is still being processed (receive queue)', async () => {
    const secret = generateFragmentSecret();
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 's1',
      fragmentSecret: secret,
    });
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 's1',
      fragmentSecret: secret,
    });
    const viewerHello = await viewer.hello();
    const viewerConfirm = await viewer.acceptHello(await agent.hello());
    // Both arrive back to back; the agent does not await between them.
    const [r1, r2] = await Promise.all([agent.receive(viewerHello), agent.receive(viewerConfirm)]);
    expect(r1.kind).toBe('hello');
    expect(r2.kind).toBe('confirmed');
    expect(agent.isConfirmed).toBe(true);
  });

  it('answers a replayed identical hello with the same confirmation and changes nothing', async () => {
    const { agent, viewer, viewerHello, agentConfirm } = await connectedPair();
    expect(Buffer.from(await agent.acceptHello(viewerHello))).toEqual(Buffer.from(agentConfirm));
    expect(text(await viewer.open(await agent.seal(bytes('still fine'))))).toBe('still fine');
  });
});

describe('E2EE refuses input before the keys are confirmed', () => {
  it('refuses to seal and drops data until confirmation', async () => {
    const secret = generateFragmentSecret();
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 's',
      fragmentSecret: secret,
    });
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 's',
      fragmentSecret: secret,
    });
    await expectE2eeError(viewer.seal(bytes('x')), 'E_E2EE_NOT_CONFIRMED');
    const agentConfirm = await agent.acceptHello(await viewer.hello());
    const viewerConfirm = await viewer.acceptHello(await agent.hello());
    await viewer.acceptConfirm(agentConfirm);
    // The viewer is confirmed; the agent has not yet seen the viewer's confirmation.
    expect(agent.state).toBe('keyed');
    await expectE2eeError(agent.seal(bytes('frame')), 'E_E2EE_NOT_CONFIRMED');
    const early = await viewer.seal(bytes('{"type":"insertText","text":"early"}'));
    expect(await agent.open(early)).toBeNull();
    expect(agent.lastDropReason).toMatch(/before keys were confirmed/);
    await agent.acceptConfirm(viewerConfirm);
    // The dropped message did not consume its number: it opens now, in order.
    expect(text(await agent.open(early))).toMatch(/early/);
  });
});

describe('E2EE drops tampered traffic', () => {
  it('drops a replayed message', async () => {
    const { agent, viewer } = await connectedPair();
    const m0 = await viewer.seal(bytes('1'));
    expect(text(await agent.open(m0))).toBe('1');
    expect(await agent.open(m0)).toBeNull();
    expect(agent.lastDropReason).toMatch(/sequence 0, expected 1/);
    expect(text(await agent.open(await viewer.seal(bytes('2'))))).toBe('2');
  });

  it('drops reordered messages: what opens is always a prefix of what was sealed', async () => {
    const { agent, viewer } = await connectedPair();
    const [m0, m1, m2] = [
      await viewer.seal(bytes('a')),
      await viewer.seal(bytes('b')),
      await viewer.seal(bytes('c')),
    ];
    const delivered: string[] = [];
    for (const m of [m1!, m0!, m2!, m1!]) {
      const p = await agent.open(m);
      if (p) delivered.push(text(p)!);
    }
    expect(delivered).toEqual(['a', 'b']);
    expect(agent.droppedCount).toBe(2);
  });

  it('drops a reflected message (our own direction), also with the direction byte rewritten', async () => {
    const { agent, viewer } = await connectedPair();
    const own = await agent.seal(bytes('frame'));
    expect(await agent.open(own)).toBeNull();
    expect(agent.lastDropReason).toMatch(/reflected/);
    const rewritten = Uint8Array.from(own);
    rewritten[2] = 2; // claim it came from the viewer
    expect(await agent.open(rewritten)).toBeNull();
    expect(agent.lastDropReason).toMatch(/failed authentication/);
    expect(viewer.droppedCount).toBe(0);
  });

  it('drops a message with any single bit flipped — header, ciphertext or tag', async () => {
    const { agent, viewer } = await connectedPair();
    const m = await viewer.seal(bytes('{"type":"keyDown","key":"7","code":"Digit7"}'));
    for (let i = 0; i < m.length; i++) {
      const flipped = Uint8Array.from(m);
      flipped[i]! ^= 1 << (i % 8);
      expect(await agent.open(flipped), `bit flipped in byte ${i}`).toBeNull();
    }
    expect(text(await agent.open(m))).toMatch(/Digit7/);
  });

  it('drops spliced messages: header of one with body of another, a message from another session, a truncation', async () => {
    const secret = generateFragmentSecret();
    const a = await connectedPair('ho_a', secret);
    const b = await connectedPair('ho_b', secret);
    const a0 = await a.viewer.seal(bytes('first'));
    const a1 = await a.viewer.seal(bytes('other'));
    const spliced = new Uint8Array([...a0.subarray(0, 11), ...a1.subarray(11)]);
    expect(await a.agent.open(spliced)).toBeNull();
    const fromB = await b.viewer.seal(bytes('first'));
    expect(await a.agent.open(fromB)).toBeNull();
    expect(await a.agent.open(a0.subarray(0, a0.length - 1))).toBeNull();
    expect(await a.agent.open(new Uint8Array([...a0, 0]))).toBeNull();
    expect(text(await a.agent.open(a0))).toBe('first');
  });

  it('reports garbage and unknown message types as dropped through receive()', async () => {
    const { agent } = await connectedPair();
    expect(await agent.receive(new Uint8Array([9, 9, 9]))).toMatchObject({ kind: 'dropped' });
    expect(await agent.receive(new Uint8Array([1, 7]))).toMatchObject({
      kind: 'dropped',
      reason: expect.stringMatching(/unknown/),
    });
    expect(await agent.receive(new Uint8Array([]))).toMatchObject({ kind: 'dropped' });
  });
});

describe('E2EE key authentication', () => {
  it('detects a relay that swaps both public keys for its own (man in the middle without k)', async () => {
    const secret = generateFragmentSecret();
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_m',
      fragmentSecret: secret,
    });
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_m',
      fragmentSecret: secret,
    });
    // The relay runs its own two ends with a secret of its own choosing.
    const guess = generateFragmentSecret();
    const mitmToAgent = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_m',
      fragmentSecret: guess,
    });
    const mitmToViewer = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_m',
      fragmentSecret: guess,
    });
    await agent.hello();
    await viewer.hello();
    const toAgent = await agent.receive(await mitmToAgent.hello());
    const toViewer = await viewer.receive(await mitmToViewer.hello());
    expect(toAgent).toMatchObject({ kind: 'dropped', code: 'E_E2EE_HELLO_INVALID' });
    expect(toViewer).toMatchObject({ kind: 'dropped', code: 'E_E2EE_HELLO_INVALID' });
    expect(agent.isConfirmed || viewer.isConfirmed).toBe(false);
  });

  it('detects a relay that swaps only the key bytes and keeps the genuine tags', async () => {
    const { agentHello } = await connectedPair();
    const secret = generateFragmentSecret();
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_test',
      fragmentSecret: secret,
    });
    const mitm = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_test',
      fragmentSecret: generateFragmentSecret(),
    });
    const forged = Uint8Array.from(agentHello);
    forged.set(mitm.publicKey, 3);
    await expectE2eeError(viewer.acceptHello(forged), 'E_E2EE_HELLO_INVALID');
  });

  it('refuses a hello tagged for another session id or from the wrong secret', async () => {
    const secret = generateFragmentSecret();
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_1',
      fragmentSecret: secret,
    });
    const otherSession = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_2',
      fragmentSecret: secret,
    });
    await expectE2eeError(viewer.acceptHello(await otherSession.hello()), 'E_E2EE_HELLO_INVALID');
    // The refused hellos did not spoil the session: the genuine one is still accepted.
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_1',
      fragmentSecret: secret,
    });
    expect((await viewer.acceptHello(await agent.hello())).length).toBe(35);
  });

  it('refuses a reflected hello (our own, sent back)', async () => {
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 's',
      fragmentSecret: generateFragmentSecret(),
    });
    await expectE2eeError(agent.acceptHello(await agent.hello()), 'E_E2EE_HELLO_INVALID');
  });

  it('refuses an off-curve public key even with a valid tag (WebCrypto importKey checks the point)', async () => {
    const secret = generateFragmentSecret();
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 's',
      fragmentSecret: secret,
    });
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 's',
      fragmentSecret: secret,
    });
    const offCurve = agent.publicKey;
    offCurve[64]! ^= 1; // y no longer satisfies y² = x³ − 3x + b
    const err = await viewer
      .acceptHello(tagHello(secret, 's', 1, offCurve))
      .catch((e: unknown) => e);
    expect(isE2eeError(err, 'E_E2EE_HELLO_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/not a point on P-256/);
    const compressed = new Uint8Array(65);
    compressed[0] = 0x02;
    await expectE2eeError(
      viewer.acceptHello(tagHello(secret, 's', 1, compressed)),
      'E_E2EE_HELLO_INVALID',
    );
    // Our independent tag computation agrees with the module: a genuine key with it is accepted.
    expect((await viewer.acceptHello(tagHello(secret, 's', 1, agent.publicKey))).length).toBe(35);
  });

  it('refuses re-keying with a new peer key mid-session and keeps the established keys', async () => {
    const { agent, viewer, secret } = await connectedPair('ho_r');
    const intruder = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_r',
      fragmentSecret: secret,
    });
    await expectE2eeError(agent.acceptHello(await intruder.hello()), 'E_E2EE_REKEY_REFUSED');
    expect(agent.isConfirmed).toBe(true);
    expect(text(await agent.open(await viewer.seal(bytes('same keys'))))).toBe('same keys');
  });

  it('fails the session when the confirmation comes from keys other than the accepted hello’s', async () => {
    const secret = generateFragmentSecret();
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_c',
      fragmentSecret: secret,
    });
    const viewer1 = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_c',
      fragmentSecret: secret,
    });
    const viewer2 = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_c',
      fragmentSecret: secret,
    });
    const agentHello = await agent.hello();
    await agent.acceptHello(await viewer1.hello());
    const confirm2 = await viewer2.acceptHello(agentHello);
    await expectE2eeError(agent.acceptConfirm(confirm2), 'E_E2EE_CONFIRM_INVALID');
    expect(agent.state).toBe('failed');
    await expectE2eeError(agent.seal(bytes('x')), 'E_E2EE_NOT_CONFIRMED');
  });

  it('refuses a confirmation before any hello and a reflected confirmation, without failing the session', async () => {
    const { agentConfirm } = await connectedPair('ho_x');
    const secret = generateFragmentSecret();
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 'ho_x',
      fragmentSecret: secret,
    });
    await expectE2eeError(viewer.acceptConfirm(agentConfirm), 'E_E2EE_CONFIRM_INVALID');
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 'ho_x',
      fragmentSecret: secret,
    });
    const ownConfirm = await viewer.acceptHello(await agent.hello());
    await expectE2eeError(viewer.acceptConfirm(ownConfirm), 'E_E2EE_CONFIRM_INVALID');
    expect(viewer.state).toBe('keyed');
  });
});

describe('E2EE parameters', () => {
  it('refuses secrets that are not base64url or shorter than 128 bits', async () => {
    const make = (fragmentSecret: string | Uint8Array) =>
      createE2eeSession({ role: 'agent', sessionId: 's', fragmentSecret });
    await expectE2eeError(make(encodeBase64url(randomBytes(15))), 'E_E2EE_SECRET_INVALID');
    await expectE2eeError(make(randomBytes(8)), 'E_E2EE_SECRET_INVALID');
    await expectE2eeError(make(`${generateFragmentSecret()}=`), 'E_E2EE_SECRET_INVALID');
    await expectE2eeError(make('abc+def/ghijklmnopqrstuvwxyz'), 'E_E2EE_SECRET_INVALID');
    await expectE2eeError(make(''), 'E_E2EE_SECRET_INVALID');
    await expect(make(randomBytes(16))).resolves.toBeDefined();
  });

  it('refuses an empty or over-long session id', async () => {
    const secret = generateFragmentSecret();
    await expectE2eeError(
      createE2eeSession({ role: 'agent', sessionId: '', fragmentSecret: secret }),
      'E_E2EE_SESSION_ID_INVALID',
    );
    await expectE2eeError(
      createE2eeSession({ role: 'agent', sessionId: 'x'.repeat(256), fragmentSecret: secret }),
      'E_E2EE_SESSION_ID_INVALID',
    );
  });

  it('says WebCrypto is missing instead of failing obscurely (page not in a secure context)', async () => {
    vi.stubGlobal('crypto', undefined);
    await expectE2eeError(
      createE2eeSession({
        role: 'viewer',
        sessionId: 's',
        fragmentSecret: encodeBase64url(randomBytes(32)),
      }),
      'E_E2EE_UNAVAILABLE',
    );
  });

  it('generates 256-bit secrets and reads them back from a URL fragment', () => {
    const k = generateFragmentSecret();
    expect(Buffer.from(k, 'base64url')).toHaveLength(32);
    expect(k).not.toBe(generateFragmentSecret());
    expect(readFragmentSecret(`#k=${k}`)).toBe(k);
    expect(readFragmentSecret(`#x=1&k=${k}`)).toBe(k);
    expect(readFragmentSecret('#k=short')).toBeNull();
    expect(readFragmentSecret('')).toBeNull();
  });

  it('never hands the session secret or keys to the log', async () => {
    const lines: string[] = [];
    const secret = generateFragmentSecret();
    const log = (l: string) => lines.push(l);
    const agent = await createE2eeSession({
      role: 'agent',
      sessionId: 's',
      fragmentSecret: secret,
      log,
    });
    const viewer = await createE2eeSession({
      role: 'viewer',
      sessionId: 's',
      fragmentSecret: secret,
      log,
    });
    const agentConfirm = await agent.acceptHello(await viewer.hello());
    await agent.acceptConfirm(await viewer.acceptHello(await agent.hello()));
    await viewer.acceptConfirm(agentConfirm);
    await agent.open(await viewer.seal(bytes('otp-991247')));
    await agent.open(Uint8Array.from([1, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, ...new Array(16).fill(0)]));
    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(4);
    expect(all).not.toContain(secret);
    expect(all).not.toContain('otp-991247');
    expect(all).not.toContain(Buffer.from(agent.publicKey).toString('hex').slice(2, 20));
  });
});

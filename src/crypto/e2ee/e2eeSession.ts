import { decodeBase64url } from './base64url.js';
import { E2eeError } from './e2eeError.js';

/**
 * The handoff's end-to-end encrypted channel between the agent side (which drives Chromium) and
 * the viewer page, through a relay that must learn nothing and change nothing.
 *
 * Written once against WebCrypto (`globalThis.crypto.subtle`) with no Node imports, so the
 * compiled file is served to the viewer page as an ES module as it is.
 *
 * Protocol, version 1 (all integers big-endian):
 *
 * 1. Both sides hold the session secret `k` (≥ 128 bits) from the session URL's fragment
 *    (`#k=…`), which browsers never send to a server (RFC 3986 §3.5). From it,
 *    `authKey = HKDF-SHA256(ikm = k, salt = "loopgate-e2ee-v1 hello", info = "loopgate-e2ee-v1
 *    hello-auth" ‖ sessionId)` (RFC 5869).
 * 2. Each side makes an ephemeral ECDH P-256 key pair and sends a HELLO:
 *    `[ver=1][type=1][role][public key, 65 bytes uncompressed (SEC 1 §2.3.3)][tag, 32]`,
 *    `tag = HMAC-SHA256(authKey, "loopgate-e2ee-v1 hello" ‖ u16 len ‖ sessionId ‖ role ‖ pub)`.
 *    A relay without `k` cannot make a valid tag, so it cannot swap in its own key.
 * 3. On the peer's HELLO: check the role is the other role, verify the tag, import the key
 *    (WebCrypto refuses points not on the curve), ECDH → 32-byte `Z`, then with
 *    `salt = SHA-256("loopgate-e2ee-v1 transcript" ‖ u16 len ‖ sessionId ‖ agentPub ‖ viewerPub)`
 *    HKDF-SHA256 over `Z ‖ k` gives: an AES-256-GCM key per direction (agent→viewer,
 *    viewer→agent) and an HMAC key per role for key confirmation. Each side then sends CONFIRM:
 *    `[ver][type=2][role][HMAC-SHA256(confirmKey_role, "loopgate-e2ee-v1 confirm" ‖ role ‖
 *    transcript hash), 32]`.
 * 4. On a valid CONFIRM from the peer the session is confirmed. Nothing is sealed or opened
 *    before that: no input is dispatched before the keys are confirmed.
 * 5. DATA: `[ver][type=3][direction = sender's role][seq, u64][AES-256-GCM ciphertext ‖ 16-byte
 *    tag]`. The 96-bit nonce is the per-direction counter `seq` (NIST SP 800-38D §8.2.1,
 *    deterministic construction); the AAD is the 11-byte header followed by the session id,
 *    binding session, direction and sequence number.
 *
 * Receiving rules: a DATA message is opened only when its direction is the peer's and its
 * `seq` is exactly the next expected one; anything else — replayed, reordered, reflected (our
 * own direction), spliced from another session or position, bit-flipped — is dropped and does
 * not advance the counter. So what `open` returns is always a prefix of what the peer sealed,
 * in order, each message once. A second HELLO with a different public key is refused
 * (`E_E2EE_REKEY_REFUSED`): a reconnecting viewer gets a fresh session on both sides instead.
 */

/** Which side of the handoff this session is. */
export type E2eeRole = 'agent' | 'viewer';

/** The state of a session, in order. `failed` follows a refused HELLO or CONFIRM. */
export type E2eeState = 'new' | 'keyed' | 'confirmed' | 'failed';

/** What {@link E2eeSession.receive} made of one incoming message. */
export type E2eeReceiveResult =
  | { kind: 'hello'; reply: Uint8Array<ArrayBuffer> }
  | { kind: 'confirmed' }
  | { kind: 'data'; plaintext: Uint8Array<ArrayBuffer> }
  | { kind: 'dropped'; reason: string; code?: E2eeError['code'] };

/** Options of {@link createE2eeSession}. */
export interface E2eeSessionOptions {
  role: E2eeRole;
  /** The handoff session id (UTF-8, 1–255 bytes); bound into every tag, key and AAD. */
  sessionId: string;
  /** `k` from the URL fragment: base64url text (RFC 4648 §5) or raw bytes, 16–64 bytes. */
  fragmentSecret: string | Uint8Array;
  /** Protocol chatter (never keys or plaintext), e.g. `debug('loopgate:crypto')`. */
  log?: (line: string) => void;
}

/** Protocol version carried in the first byte of every message. */
export const e2eeVersion = 1;
/** Message types (second byte). */
export const e2eeMessageType = { hello: 1, confirm: 2, data: 3 } as const;
/** Role / direction bytes (third byte): the sender's role. */
export const e2eeRoleByte = { agent: 1, viewer: 2 } as const;
/** Length of the DATA header (version, type, direction, u64 sequence number). */
export const e2eeDataHeaderLength = 11;

const publicKeyLength = 65;
const macLength = 32;
const helloLength = 3 + publicKeyLength + macLength;
const confirmLength = 3 + macLength;
const gcmTagLength = 16;
const minSecretBytes = 16;
const maxSecretBytes = 64;
const label = 'loopgate-e2ee-v1';
const encoder = new TextEncoder();

function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!s) {
    throw new E2eeError(
      'E_E2EE_UNAVAILABLE',
      'crypto.subtle is undefined: WebCrypto exists only in secure contexts; open the viewer over HTTPS or from localhost.',
    );
  }
  return s;
}

function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A view WebCrypto accepts; copies only when the bytes sit in a SharedArrayBuffer. */
function bufferView(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? (bytes as Uint8Array<ArrayBuffer>)
    : new Uint8Array(bytes);
}

function u16(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function readSeq(view: Uint8Array, offset: number): number {
  const dv = new DataView(view.buffer, view.byteOffset + offset, 8);
  return dv.getUint32(0) * 2 ** 32 + dv.getUint32(4);
}

function writeSeq(target: Uint8Array, offset: number, seq: number): void {
  const dv = new DataView(target.buffer, target.byteOffset + offset, 8);
  dv.setUint32(0, Math.floor(seq / 2 ** 32));
  dv.setUint32(4, seq >>> 0);
}

/** The 96-bit GCM nonce: the sequence number, big-endian, in the low 64 bits. */
function nonceFor(seq: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12);
  writeSeq(iv, 4, seq);
  return iv;
}

function otherRole(role: E2eeRole): E2eeRole {
  return role === 'agent' ? 'viewer' : 'agent';
}

function parseSecret(secret: string | Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = typeof secret === 'string' ? decodeBase64url(secret) : new Uint8Array(secret);
  if (!bytes) {
    throw new E2eeError(
      'E_E2EE_SECRET_INVALID',
      'The session secret is not unpadded base64url (RFC 4648 §5).',
    );
  }
  if (bytes.length < minSecretBytes || bytes.length > maxSecretBytes) {
    throw new E2eeError(
      'E_E2EE_SECRET_INVALID',
      `The session secret is ${bytes.length} bytes; expected ${minSecretBytes}–${maxSecretBytes} bytes (128–512 bits).`,
    );
  }
  return bytes;
}

interface DirectionKeys {
  sealKey: CryptoKey;
  openKey: CryptoKey;
  ownConfirmKey: CryptoKey;
  peerConfirmKey: CryptoKey;
  transcriptHash: Uint8Array<ArrayBuffer>;
}

/**
 * One end of an E2EE handoff channel. Make it with {@link createE2eeSession}; send
 * {@link hello}; feed every binary message from the relay to {@link receive} (or to
 * {@link acceptHello} / {@link acceptConfirm} / {@link open} directly) and send back any reply;
 * once {@link isConfirmed}, {@link seal} outgoing payloads. `seal` and `open` calls are
 * serialised internally: their promises resolve in call order, so sending each result as it
 * resolves keeps the wire order.
 */
export class E2eeSession {
  readonly role: E2eeRole;
  readonly sessionId: string;
  #state: E2eeState = 'new';
  #sessionIdBytes: Uint8Array<ArrayBuffer>;
  #secret: Uint8Array<ArrayBuffer>;
  #authKey: CryptoKey;
  #keyPair: CryptoKeyPair;
  #publicKey: Uint8Array<ArrayBuffer>;
  #peerPublicKey: Uint8Array<ArrayBuffer> | null = null;
  #keys: DirectionKeys | null = null;
  #sendSeq = 0;
  #recvSeq = 0;
  #dropped = 0;
  #sealChain: Promise<unknown> = Promise.resolve();
  #inbound: Promise<unknown> = Promise.resolve();
  #log: (line: string) => void;

  /** @internal Use {@link createE2eeSession}. */
  constructor(
    options: E2eeSessionOptions,
    parts: {
      secret: Uint8Array<ArrayBuffer>;
      authKey: CryptoKey;
      keyPair: CryptoKeyPair;
      publicKey: Uint8Array<ArrayBuffer>;
    },
  ) {
    this.role = options.role;
    this.sessionId = options.sessionId;
    this.#sessionIdBytes = encoder.encode(options.sessionId);
    this.#secret = parts.secret;
    this.#authKey = parts.authKey;
    this.#keyPair = parts.keyPair;
    this.#publicKey = parts.publicKey;
    this.#log = options.log ?? (() => undefined);
  }

  /** `new` → `keyed` (peer hello accepted) → `confirmed` (peer confirmation verified); or `failed`. */
  get state(): E2eeState {
    return this.#state;
  }

  /** True once the peer proved it derived the same keys; only then do seal and open work. */
  get isConfirmed(): boolean {
    return this.#state === 'confirmed';
  }

  /** Number of messages dropped so far (replayed, reordered, tampered, early, …). */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Our uncompressed P-256 public key (65 bytes); public, safe to show as a fingerprint. */
  get publicKey(): Uint8Array<ArrayBuffer> {
    return this.#publicKey.slice();
  }

  #helloTagInput(roleByte: number, publicKey: Uint8Array): Uint8Array<ArrayBuffer> {
    return concatBytes(
      encoder.encode(`${label} hello`),
      u16(this.#sessionIdBytes.length),
      this.#sessionIdBytes,
      new Uint8Array([roleByte]),
      publicKey,
    );
  }

  /**
   * Our HELLO (100 bytes): version, type, role, public key and its HMAC-SHA256 tag under the
   * key derived from `k`. Send it as a binary message as soon as the relay says the peer is there.
   */
  async hello(): Promise<Uint8Array<ArrayBuffer>> {
    const roleByte = e2eeRoleByte[this.role];
    const tag = new Uint8Array(
      await subtle().sign('HMAC', this.#authKey, this.#helloTagInput(roleByte, this.#publicKey)),
    );
    this.#log(`${this.role}: hello sent`);
    return concatBytes(
      new Uint8Array([e2eeVersion, e2eeMessageType.hello, roleByte]),
      this.#publicKey,
      tag,
    );
  }

  /**
   * Verifies the peer's HELLO, derives the session keys and returns our CONFIRM message to send.
   * The same HELLO again (a relay replaying it) returns the same CONFIRM and changes nothing.
   *
   * @throws {E2eeError} `E_E2EE_HELLO_INVALID` (wrong length/version/type, our own role — a
   *   reflection —, a tag that does not verify, an off-curve or malformed point);
   *   `E_E2EE_REKEY_REFUSED` (a different public key after one was accepted). Neither changes
   *   the session: the genuine hello can still follow a forged one.
   */
  acceptHello(message: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    return this.#enqueue(() => this.#acceptHelloNow(bufferView(message)));
  }

  /** Runs inbound work one message at a time, in arrival order. */
  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#inbound.then(work);
    this.#inbound = result.catch(() => undefined);
    return result;
  }

  async #acceptHelloNow(msg: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    if (msg.length !== helloLength || msg[0] !== e2eeVersion || msg[1] !== e2eeMessageType.hello) {
      throw this.#refuse(
        'E_E2EE_HELLO_INVALID',
        `Expected a ${helloLength}-byte version-${e2eeVersion} hello; got ${msg.length} bytes.`,
      );
    }
    const peerRole = otherRole(this.role);
    if (msg[2] !== e2eeRoleByte[peerRole]) {
      throw this.#refuse(
        'E_E2EE_HELLO_INVALID',
        `Expected a hello from the ${peerRole}; got role byte ${msg[2]} (a reflected or foreign hello).`,
      );
    }
    const peerPublicKey = msg.slice(3, 3 + publicKeyLength);
    if (this.#peerPublicKey) {
      if (bytesEqual(peerPublicKey, this.#peerPublicKey) && this.#keys) {
        this.#log(`${this.role}: duplicate peer hello ignored`);
        return this.#confirmMessage(this.#keys);
      }
      this.#log(`${this.role}: re-key refused`);
      throw new E2eeError(
        'E_E2EE_REKEY_REFUSED',
        'A hello with a different public key arrived after the session was keyed; keys never change mid-session — open a new session.',
      );
    }
    if (this.#state === 'failed') {
      throw this.#refuse(
        'E_E2EE_HELLO_INVALID',
        'This session already failed; open a new session.',
      );
    }
    const tag = msg.subarray(3 + publicKeyLength);
    const tagOk = await subtle().verify(
      'HMAC',
      this.#authKey,
      tag,
      this.#helloTagInput(msg[2], peerPublicKey),
    );
    if (!tagOk) {
      throw this.#refuse(
        'E_E2EE_HELLO_INVALID',
        'The hello’s tag does not verify under the session secret: the public key was not sent by a holder of the session URL.',
      );
    }
    if (peerPublicKey[0] !== 0x04) {
      throw this.#refuse(
        'E_E2EE_HELLO_INVALID',
        'The peer public key is not an uncompressed P-256 point (SEC 1 §2.3.3).',
      );
    }
    let peerKey: CryptoKey;
    try {
      peerKey = await subtle().importKey(
        'raw',
        peerPublicKey,
        { name: 'ECDH', namedCurve: 'P-256' },
        false,
        [],
      );
    } catch (cause) {
      throw this.#refuse(
        'E_E2EE_HELLO_INVALID',
        'The peer public key is not a point on P-256.',
        cause,
      );
    }
    // Set before the next await so a second, different hello racing this one is refused.
    this.#peerPublicKey = peerPublicKey;
    const keys = await this.#deriveKeys(peerKey, peerPublicKey);
    this.#keys = keys;
    if (this.#state === 'new') this.#state = 'keyed';
    this.#log(`${this.role}: peer hello accepted, keys derived`);
    return this.#confirmMessage(keys);
  }

  async #deriveKeys(
    peerKey: CryptoKey,
    peerPublicKey: Uint8Array<ArrayBuffer>,
  ): Promise<DirectionKeys> {
    const s = subtle();
    const z = new Uint8Array(
      await s.deriveBits({ name: 'ECDH', public: peerKey }, this.#keyPair.privateKey, 256),
    );
    const agentPub = this.role === 'agent' ? this.#publicKey : peerPublicKey;
    const viewerPub = this.role === 'agent' ? peerPublicKey : this.#publicKey;
    const transcriptHash = new Uint8Array(
      await s.digest(
        'SHA-256',
        concatBytes(
          encoder.encode(`${label} transcript`),
          u16(this.#sessionIdBytes.length),
          this.#sessionIdBytes,
          agentPub,
          viewerPub,
        ),
      ),
    );
    const ikm = await s.importKey('raw', concatBytes(z, this.#secret), 'HKDF', false, [
      'deriveKey',
    ]);
    z.fill(0);
    const hkdf = (info: string): HkdfParams => ({
      name: 'HKDF',
      hash: 'SHA-256',
      salt: transcriptHash,
      info: encoder.encode(`${label} ${info}`),
    });
    const aes = async (info: string, usage: KeyUsage): Promise<CryptoKey> =>
      s.deriveKey(hkdf(info), ikm, { name: 'AES-GCM', length: 256 }, false, [usage]);
    const hmac = async (info: string): Promise<CryptoKey> =>
      s.deriveKey(hkdf(info), ikm, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, [
        'sign',
        'verify',
      ]);
    const peer = otherRole(this.role);
    return {
      sealKey: await aes(`key ${this.role}->${peer}`, 'encrypt'),
      openKey: await aes(`key ${peer}->${this.role}`, 'decrypt'),
      ownConfirmKey: await hmac(`confirm ${this.role}`),
      peerConfirmKey: await hmac(`confirm ${peer}`),
      transcriptHash,
    };
  }

  #confirmInput(role: E2eeRole, keys: DirectionKeys): Uint8Array<ArrayBuffer> {
    return concatBytes(
      encoder.encode(`${label} confirm`),
      new Uint8Array([e2eeRoleByte[role]]),
      keys.transcriptHash,
    );
  }

  async #confirmMessage(keys: DirectionKeys): Promise<Uint8Array<ArrayBuffer>> {
    const mac = new Uint8Array(
      await subtle().sign('HMAC', keys.ownConfirmKey, this.#confirmInput(this.role, keys)),
    );
    return concatBytes(
      new Uint8Array([e2eeVersion, e2eeMessageType.confirm, e2eeRoleByte[this.role]]),
      mac,
    );
  }

  /**
   * Verifies the peer's CONFIRM: proof that it derived the same keys from the same transcript
   * (so no relay sits in between). Afterwards {@link isConfirmed} is true.
   *
   * @throws {E2eeError} `E_E2EE_CONFIRM_INVALID` when it arrives before the peer's hello, is
   *   malformed or comes from our own role (refused, session unchanged), or does not verify
   *   (the keys differ: the session becomes `failed`).
   */
  acceptConfirm(message: Uint8Array): Promise<void> {
    return this.#enqueue(() => this.#acceptConfirmNow(bufferView(message)));
  }

  async #acceptConfirmNow(msg: Uint8Array<ArrayBuffer>): Promise<void> {
    const peer = otherRole(this.role);
    if (!this.#keys || this.#state === 'failed') {
      throw this.#refuse(
        'E_E2EE_CONFIRM_INVALID',
        `A key confirmation arrived in state ${this.#state}, before the ${peer}'s hello was accepted.`,
      );
    }
    if (
      msg.length !== confirmLength ||
      msg[0] !== e2eeVersion ||
      msg[1] !== e2eeMessageType.confirm ||
      msg[2] !== e2eeRoleByte[peer]
    ) {
      throw this.#refuse(
        'E_E2EE_CONFIRM_INVALID',
        `Expected a ${confirmLength}-byte confirmation from the ${peer}; got ${msg.length} bytes, role byte ${msg[2]}.`,
      );
    }
    if (this.#state === 'confirmed') return;
    const ok = await subtle().verify(
      'HMAC',
      this.#keys.peerConfirmKey,
      msg.subarray(3),
      this.#confirmInput(peer, this.#keys),
    );
    if (!ok) {
      throw this.#fail(
        'E_E2EE_CONFIRM_INVALID',
        `The ${peer}'s key confirmation does not verify: the two sides derived different keys (a relay substituted a key, or the secret differs).`,
      );
    }
    this.#state = 'confirmed';
    this.#log(`${this.role}: keys confirmed`);
  }

  /**
   * Encrypts one payload as a DATA message (11-byte header + ciphertext + 16-byte tag).
   *
   * @throws {E2eeError} `E_E2EE_NOT_CONFIRMED` before the keys are confirmed.
   */
  seal(plaintext: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    if (!this.isConfirmed || !this.#keys) {
      return Promise.reject(
        new E2eeError(
          'E_E2EE_NOT_CONFIRMED',
          `Cannot seal in state ${this.#state}: wait until isConfirmed.`,
        ),
      );
    }
    const keys = this.#keys;
    const seq = this.#sendSeq++;
    const header = new Uint8Array(e2eeDataHeaderLength);
    header[0] = e2eeVersion;
    header[1] = e2eeMessageType.data;
    header[2] = e2eeRoleByte[this.role];
    writeSeq(header, 3, seq);
    const encrypted = subtle().encrypt(
      {
        name: 'AES-GCM',
        iv: nonceFor(seq),
        additionalData: concatBytes(header, this.#sessionIdBytes),
        tagLength: 128,
      },
      keys.sealKey,
      bufferView(plaintext),
    );
    const result = this.#sealChain.then(async () =>
      concatBytes(header, new Uint8Array(await encrypted)),
    );
    this.#sealChain = result.catch(() => undefined);
    return result;
  }

  /**
   * Decrypts one DATA message. Returns null — drops it — when the keys are not confirmed, or
   * the message is malformed, from our own direction, not exactly the next sequence number,
   * or fails GCM authentication (any flipped bit, spliced header or foreign session).
   * A dropped message does not advance the expected sequence number.
   */
  open(message: Uint8Array): Promise<Uint8Array<ArrayBuffer> | null> {
    return this.#enqueue(() => this.#openNow(bufferView(message)));
  }

  #lastDropReason = '';

  /** Why the last message was dropped (for logs and the viewer's status line). */
  get lastDropReason(): string {
    return this.#lastDropReason;
  }

  #drop(reason: string): null {
    this.#dropped++;
    this.#lastDropReason = reason;
    this.#log(`${this.role}: dropped message: ${reason}`);
    return null;
  }

  async #openNow(msg: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer> | null> {
    if (!this.isConfirmed || !this.#keys)
      return this.#drop(`data before keys were confirmed (state ${this.#state})`);
    if (
      msg.length < e2eeDataHeaderLength + gcmTagLength ||
      msg[0] !== e2eeVersion ||
      msg[1] !== e2eeMessageType.data
    ) {
      return this.#drop(`malformed data message (${msg.length} bytes)`);
    }
    if (msg[2] !== e2eeRoleByte[otherRole(this.role)])
      return this.#drop('reflected: our own direction');
    const seq = readSeq(msg, 3);
    if (seq !== this.#recvSeq)
      return this.#drop(
        `sequence ${seq}, expected ${this.#recvSeq} (replayed, reordered or missing)`,
      );
    const header = msg.subarray(0, e2eeDataHeaderLength);
    let plaintext: ArrayBuffer;
    try {
      plaintext = await subtle().decrypt(
        {
          name: 'AES-GCM',
          iv: nonceFor(seq),
          additionalData: concatBytes(header, this.#sessionIdBytes),
          tagLength: 128,
        },
        this.#keys.openKey,
        msg.subarray(e2eeDataHeaderLength),
      );
    } catch {
      return this.#drop(`sequence ${seq} failed authentication (tampered or spliced)`);
    }
    this.#recvSeq = seq + 1;
    return new Uint8Array(plaintext);
  }

  /**
   * Handles any incoming message by its type byte: a HELLO yields the CONFIRM to send back,
   * a CONFIRM confirms the session, DATA yields its plaintext; anything refused or dropped
   * yields `{kind: 'dropped', reason, code?}` and never throws.
   */
  receive(message: Uint8Array): Promise<E2eeReceiveResult> {
    return this.#enqueue(() => this.#receiveNow(bufferView(message)));
  }

  async #receiveNow(msg: Uint8Array<ArrayBuffer>): Promise<E2eeReceiveResult> {
    const type = msg.length >= 2 && msg[0] === e2eeVersion ? msg[1] : undefined;
    try {
      if (type === e2eeMessageType.hello)
        return { kind: 'hello', reply: await this.#acceptHelloNow(msg) };
      if (type === e2eeMessageType.confirm) {
        await this.#acceptConfirmNow(msg);
        return { kind: 'confirmed' };
      }
      if (type === e2eeMessageType.data) {
        const plaintext = await this.#openNow(msg);
        return plaintext
          ? { kind: 'data', plaintext }
          : { kind: 'dropped', reason: this.#lastDropReason };
      }
    } catch (err) {
      if (err instanceof E2eeError) {
        this.#dropped++;
        this.#lastDropReason = err.message;
        return { kind: 'dropped', reason: err.message, code: err.code };
      }
      throw err;
    }
    this.#drop(`unknown message (version ${msg[0]}, type ${msg[1]})`);
    return { kind: 'dropped', reason: this.#lastDropReason };
  }

  /**
   * Refuses one message without changing the session: a forged or malformed hello injected by
   * the relay cannot stop the genuine one from being accepted afterwards.
   */
  #refuse(code: E2eeError['code'], message: string, cause?: unknown): E2eeError {
    this.#log(`${this.role}: refused (${code})`);
    return new E2eeError(code, message, cause === undefined ? undefined : { cause });
  }

  /** A refused key confirmation ends a session that is not yet confirmed. */
  #fail(code: E2eeError['code'], message: string, cause?: unknown): E2eeError {
    if (this.#state !== 'confirmed') this.#state = 'failed';
    this.#log(`${this.role}: refused (${code})`);
    return new E2eeError(code, message, cause === undefined ? undefined : { cause });
  }
}

/**
 * Creates one end of an E2EE handoff session: checks the session id and the fragment secret,
 * derives the hello-authentication key from `k` and generates a fresh, non-extractable ECDH
 * P-256 key pair. One session per WebSocket connection; a reconnect makes a new one.
 *
 * @throws {E2eeError} `E_E2EE_SECRET_INVALID` (not base64url, under 128 or over 512 bits),
 *   `E_E2EE_SESSION_ID_INVALID` (empty or over 255 UTF-8 bytes), `E_E2EE_UNAVAILABLE`
 *   (no WebCrypto: a page that is not a secure context).
 */
export async function createE2eeSession(options: E2eeSessionOptions): Promise<E2eeSession> {
  if (options.role !== 'agent' && options.role !== 'viewer') {
    throw new E2eeError(
      'E_E2EE_SESSION_ID_INVALID',
      `role must be agent or viewer; got ${String(options.role)}.`,
    );
  }
  const sessionIdBytes = encoder.encode(options.sessionId);
  if (sessionIdBytes.length === 0 || sessionIdBytes.length > 255) {
    throw new E2eeError(
      'E_E2EE_SESSION_ID_INVALID',
      `The session id is ${sessionIdBytes.length} UTF-8 bytes; expected 1–255.`,
    );
  }
  const secret = parseSecret(options.fragmentSecret);
  const s = subtle();
  const secretKey = await s.importKey('raw', secret, 'HKDF', false, ['deriveKey']);
  const authKey = await s.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: encoder.encode(`${label} hello`),
      info: concatBytes(encoder.encode(`${label} hello-auth`), sessionIdBytes),
    },
    secretKey,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign', 'verify'],
  );
  const keyPair = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const publicKey = new Uint8Array(await s.exportKey('raw', keyPair.publicKey));
  options.log?.(`${options.role}: session created`);
  return new E2eeSession(options, { secret, authKey, keyPair, publicKey });
}

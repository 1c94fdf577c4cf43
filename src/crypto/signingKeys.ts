import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** The receipt signing key: Ed25519 (RFC 8032), published as an OKP JWK (RFC 8037). */
export interface ReceiptSigningKey {
  privateKey: KeyObject;
  /** `{kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig'}` */
  publicJwk: JWK & { kid: string };
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key. */
  kid: string;
}

/** A JSON Web Key Set (RFC 7517 §5). */
export interface Jwks {
  keys: (JWK & { kid: string })[];
}

/** File names inside the data directory. */
export const keyFileNames = {
  receiptKey: 'receipt-signing-key.pem',
  signingSecret: 'signing-secret',
  totpKey: 'totp-encryption-key',
} as const;

function writeSecretFile(path: string, contents: string): void {
  writeFileSync(path, contents, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

/**
 * Turns an Ed25519 private key into the published key: JWK with its RFC 7638 thumbprint as `kid`.
 */
export async function describeSigningKey(privateKey: KeyObject): Promise<ReceiptSigningKey> {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! }, 'sha256');
  return {
    privateKey,
    kid,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x!, kid, alg: 'EdDSA', use: 'sig' },
  };
}

/**
 * Loads the Ed25519 receipt key from `<dataDir>/receipt-signing-key.pem` (PKCS#8), making one
 * on first start. The file is created with mode 0600 and never rewritten.
 */
export async function loadOrCreateReceiptKey(dataDir: string): Promise<ReceiptSigningKey> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, keyFileNames.receiptKey);
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      writeSecretFile(path, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    } catch (err) {
      // Another process made it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return describeSigningKey(createPrivateKey(readFileSync(path, 'utf8')));
}

/**
 * The shared HMAC secret for `response.signature`: `override` (LOOPGATE_SIGNING_SECRET) when
 * given, else `<dataDir>/signing-secret` (256 random bits as hex, mode 0600), made on first start.
 */
export function loadOrCreateSigningSecret(dataDir: string, override?: string): string {
  if (override) return override;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, keyFileNames.signingSecret);
  if (!existsSync(path)) {
    try {
      writeSecretFile(path, `${randomBytes(32).toString('hex')}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return readFileSync(path, 'utf8').trim();
}

/** The JWKS served at `/.well-known/loopgate/jwks.json`. */
export function buildJwks(keys: readonly ReceiptSigningKey[]): Jwks {
  return { keys: keys.map((key) => key.publicJwk) };
}

/**
 * The 256-bit key that encrypts TOTP secrets at rest (AES-256-GCM): `<dataDir>/totp-encryption-key`
 * (hex, mode 0600), made on first use.
 */
export function loadOrCreateTotpEncryptionKey(dataDir: string): Uint8Array {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, keyFileNames.totpKey);
  if (!existsSync(path)) {
    try {
      writeSecretFile(path, `${randomBytes(32).toString('hex')}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return new Uint8Array(Buffer.from(readFileSync(path, 'utf8').trim(), 'hex'));
}

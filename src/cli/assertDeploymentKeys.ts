import { createHmac } from 'node:crypto';
import { LoopgateError } from '../core/errors.js';
import type { Jwks } from '../crypto/signingKeys.js';
import type { PostgresStore } from '../store/postgresStore.js';

/**
 * Refuses to run a server whose keys differ from those of the deployment it joins. Every server
 * on one PostgreSQL database must sign receipts with the same Ed25519 key (agents check them
 * against one JWKS), HMAC with the same signing secret, and decrypt the TOTP secrets stored in
 * the database with the same TOTP encryption key. The first server to start records what it
 * has in `loopgate_meta`: the RFC 7638 thumbprints of its receipt keys, and for each secret an
 * HMAC-SHA256 check value over a fixed label (which reveals nothing of the secret); every later
 * server compares. Commands that use one of the keys (`totp enroll`) pass only that one.
 *
 * @throws LoopgateError E_SERVER_KEYS_MISMATCH naming what differs and how to fix it
 */
export async function assertDeploymentKeys(
  store: PostgresStore,
  keys: { jwks?: Jwks; signingSecret?: string; totpKey?: Uint8Array; dataDir: string },
): Promise<void> {
  const check = (secret: string | Uint8Array, label: string) =>
    createHmac('sha256', secret).update(`loopgate deployment check: ${label}`).digest('hex');
  const expected: [key: string, value: string, what: string][] = [];
  if (keys.jwks) {
    expected.push([
      'receipt_key_thumbprints',
      keys.jwks.keys
        .map((k) => k.kid)
        .sort()
        .join(','),
      'receipt signing key (receipt-signing-key.pem)',
    ]);
  }
  if (keys.signingSecret !== undefined) {
    expected.push([
      'signing_secret_check',
      check(keys.signingSecret, 'signing secret'),
      'HMAC signing secret (signing-secret or --signing-secret)',
    ]);
  }
  if (keys.totpKey) {
    expected.push([
      'totp_key_check',
      check(keys.totpKey, 'totp encryption key'),
      'TOTP encryption key (totp-encryption-key)',
    ]);
  }
  const differing: string[] = [];
  for (const [key, value, what] of expected) {
    if ((await store.claimDeploymentValue(key, value)) !== value) differing.push(what);
  }
  if (differing.length > 0) {
    throw new LoopgateError(
      'E_SERVER_KEYS_MISMATCH',
      `This server's ${differing.join(', ')} ${differing.length === 1 ? 'is' : 'are'} not the one the database at ${store.databaseUrl} was first used with. Every server of one deployment needs the same keys: copy receipt-signing-key.pem, signing-secret and totp-encryption-key from the data dir of a server already on this database into ${keys.dataDir} (or pass the same --signing-secret).`,
    );
  }
}

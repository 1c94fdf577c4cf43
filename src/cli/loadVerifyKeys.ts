import { readFileSync } from 'node:fs';
import { LoopgateError } from '../core/errors.js';
import { buildJwks, loadOrCreateReceiptKey, type Jwks } from '../crypto/signingKeys.js';
import { requireDataDir } from './requireDataDir.js';

function asJwks(value: unknown, from: string): Jwks {
  if (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { keys?: unknown }).keys)
  )
    return value as Jwks;
  throw new LoopgateError(
    'E_CLI_JWKS_INVALID',
    `${from} is not a JSON Web Key Set; expected {"keys": [...]} as served at /.well-known/loopgate/jwks.json.`,
  );
}

async function fetchJwks(url: string): Promise<Jwks> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (cause) {
    throw new LoopgateError(
      'E_REMOTE_UNREACHABLE',
      `Could not fetch the JWKS from ${url}: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (!response.ok)
    throw new LoopgateError(
      'E_REMOTE_UNREACHABLE',
      `Could not fetch the JWKS from ${url} (${response.status}).`,
    );
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new LoopgateError(
      'E_CLI_JWKS_INVALID',
      `${url} did not answer JSON; expected a JSON Web Key Set.`,
      { cause },
    );
  }
  return asJwks(body, url);
}

function readJwksFile(path: string): Jwks {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const reason =
      (cause as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'there is no such file'
        : (cause as Error).message;
    throw new LoopgateError(
      'E_CLI_FILE_NOT_FOUND',
      `--jwks ${path}: could not read it (${reason}).`,
      { cause },
    );
  }
  try {
    return asJwks(JSON.parse(text), `--jwks ${path}`);
  } catch (cause) {
    if (cause instanceof LoopgateError) throw cause;
    throw new LoopgateError(
      'E_CLI_JWKS_INVALID',
      `--jwks ${path} is not JSON; expected a JSON Web Key Set.`,
      { cause },
    );
  }
}

/**
 * The public keys `loopgate verify` checks a receipt against: `--jwks FILE|URL`, else the JWKS
 * of `--server-url`, else the receipt key of an existing data dir (never a new one: a key made
 * up on the spot would call every genuine receipt invalid).
 * @throws LoopgateError E_CLI_FILE_NOT_FOUND, E_CLI_JWKS_INVALID, E_REMOTE_UNREACHABLE,
 *   E_CLI_DATA_DIR_MISSING
 */
export async function loadVerifyKeys(options: {
  jwks?: string;
  serverUrl?: string;
  dataDir: string;
}): Promise<Jwks> {
  if (options.jwks !== undefined) {
    return /^https?:\/\//i.test(options.jwks)
      ? fetchJwks(options.jwks)
      : readJwksFile(options.jwks);
  }
  if (options.serverUrl)
    return fetchJwks(`${options.serverUrl.replace(/\/$/, '')}/.well-known/loopgate/jwks.json`);
  return buildJwks([await loadOrCreateReceiptKey(requireDataDir(options.dataDir))]);
}

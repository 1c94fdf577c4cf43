import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store/store.js';
import type {
  AgentKeyScope,
  OperatorRecord,
  SessionRecord,
  SessionSource,
} from '../core/records.js';
import { LoopgateError } from '../core/errors.js';
import { constantTimeEqual, createId, createSecretToken, hashSecret } from '../core/ids.js';

/** Sign-in links work once and for 15 minutes. */
export const loginTokenTtlMs = 15 * 60_000;
/** A browser session lasts 12 hours. */
export const sessionTtlMs = 12 * 3_600_000;
/** The operator made on first start. */
export const defaultOperatorName = 'admin';

/** Returns the first admin, making the default one on first start. */
export async function ensureDefaultOperator(store: Store, now: number): Promise<OperatorRecord> {
  const operators = await store.listOperators();
  const admin = operators.find((op) => op.role === 'admin');
  if (admin) return admin;
  return store.ensureOperator({
    id: createId('op'),
    name: defaultOperatorName,
    role: 'admin',
    now,
  });
}

/**
 * Makes a one-time sign-in link for `operator`: `<publicUrl>/login?token=…` (256-bit token,
 * stored as its SHA-256, valid `ttlMs` — 15 minutes by default — usable once). `source` is
 * recorded on the link and on the session made from it: only `invite` and `enroll` sessions
 * may add an operator's first second factor; an `enroll` link opens Settings.
 */
export async function createLoginUrl(
  store: Store,
  operator: OperatorRecord,
  publicUrl: string,
  now: number,
  options: { source?: SessionSource; ttlMs?: number } = {},
): Promise<string> {
  const token = createSecretToken();
  const source = options.source ?? 'login';
  await store.createLoginToken({
    tokenHash: hashSecret(token),
    operatorId: operator.id,
    expiresAt: now + (options.ttlMs ?? loginTokenTtlMs),
    now,
    source,
  });
  return `${publicUrl.replace(/\/$/, '')}/login?token=${token}${source === 'login' ? '' : '&next=/settings'}`;
}

/**
 * A new browser session: the session secret (handed to the page once, sent back in the
 * `X-Loopgate-Session` header; only its SHA-256 is stored) and its record.
 */
export interface NewSession {
  secret: string;
  session: SessionRecord;
  operator: OperatorRecord;
}

/**
 * Exchanges a one-time sign-in token for a session.
 * @throws LoopgateError E_AUTH_LOGIN_TOKEN_INVALID with `message` saying unknown / used / expired
 */
export async function signInWithToken(
  store: Store,
  token: string,
  now: number,
): Promise<NewSession> {
  const result = await store.consumeLoginToken(hashSecret(token), now);
  if (!result.ok) {
    const why = {
      unknown: 'That sign-in link is not valid.',
      used: 'That sign-in link was already used; each link works once.',
      expired: 'That sign-in link expired; links last 15 minutes.',
    }[result.reason];
    throw new LoopgateError(
      'E_AUTH_LOGIN_TOKEN_INVALID',
      `${why} Run \`loopgate login-url\` for a new one.`,
    );
  }
  const operator = await store.getOperator(result.operatorId);
  if (!operator)
    throw new LoopgateError(
      'E_AUTH_LOGIN_TOKEN_INVALID',
      'The operator of that sign-in link no longer exists.',
    );
  const secret = createSecretToken();
  const session: SessionRecord = {
    idHash: hashSecret(secret),
    operatorId: operator.id,
    csrfToken: createSecretToken(),
    createdAt: now,
    expiresAt: now + sessionTtlMs,
    source: result.source,
  };
  await store.createSession(session);
  await store.appendAudit(
    {
      type: 'operator.signed_in',
      requestId: null,
      actor: `operator:${operator.name}`,
      data: { source: result.source },
    },
    now,
  );
  return { secret, session, operator };
}

/** The signed-in operator behind a session secret, or null. */
export async function resolveSession(
  store: Store,
  secret: string,
  now: number,
): Promise<{ session: SessionRecord; operator: OperatorRecord } | null> {
  return resolveSessionByHash(store, hashSecret(secret), now);
}

/** The signed-in operator behind a stored session hash, or null when it expired or was deleted. */
export async function resolveSessionByHash(
  store: Store,
  idHash: string,
  now: number,
): Promise<{ session: SessionRecord; operator: OperatorRecord } | null> {
  return store.getSessionWithOperator(idHash, now);
}

/** True when `given` is the session's CSRF token (constant time). */
export function checkCsrfToken(session: SessionRecord, given: string | undefined): boolean {
  return given !== undefined && constantTimeEqual(session.csrfToken, given);
}

/** An agent key as created: `key` is shown once and never stored. */
export interface NewAgentKey {
  id: string;
  name: string;
  scope: AgentKeyScope;
  key: string;
}

/**
 * Creates an agent API key `lg_<256 bits base64url>`; only its SHA-256 is stored. `scope`
 * `gateway` makes a key for a remote `loopgate proxy` (the only kind `/v1/gateway/*` accepts).
 */
export async function createAgentKey(
  store: Store,
  name: string,
  now: number,
  scope: AgentKeyScope = 'agent',
): Promise<NewAgentKey> {
  const trimmed = name.trim();
  if (!/^[\w .@-]{1,64}$/.test(trimmed)) {
    throw new LoopgateError(
      'E_CLI_USAGE',
      `Key names are 1-64 letters, digits, spaces, . _ @ -; got "${name}".`,
    );
  }
  const key = createSecretToken('lg_');
  const id = createId('key', 8);
  await store.createAgentKey({
    id,
    name: trimmed,
    scope,
    keyHash: hashSecret(key),
    prefix: key.slice(0, 10),
    createdAt: now,
    revokedAt: null,
    lastUsedAt: null,
  });
  await store.appendAudit(
    {
      type: 'agent_key.created',
      requestId: null,
      actor: 'cli',
      data: { id, name: trimmed, scope },
    },
    now,
  );
  return { id, name: trimmed, scope, key };
}

/**
 * The agent behind a bearer key. The key is hashed before the lookup, so the database compares
 * digests, never the key itself.
 * @throws LoopgateError E_AUTH_KEY_INVALID
 */
export async function authenticateAgentKey(
  store: Store,
  key: string,
  now: number,
): Promise<{ id: string; name: string; scope: AgentKeyScope }> {
  const record = key.startsWith('lg_')
    ? await store.findAgentKeyByHash(hashSecret(key), now)
    : null;
  if (!record || !constantTimeEqual(record.keyHash, hashSecret(key))) {
    throw new LoopgateError(
      'E_AUTH_KEY_INVALID',
      'The agent key is unknown or revoked. Create one with `loopgate keys create --name NAME`.',
    );
  }
  return { id: record.id, name: record.name, scope: record.scope };
}

/** The file in a data dir holding the agent key `loopgate mcp` uses with that dir's server. */
export const localAgentKeyFile = 'local-agent-key';
/** The file in a data dir holding the gateway key a local `loopgate proxy` uses with that dir's server. */
export const localGatewayKeyFile = 'local-gateway-key';

/**
 * The agent key a local `loopgate mcp` (scope `agent`) or `loopgate proxy` (scope `gateway`)
 * uses to talk to a server already running on the same data dir: read from
 * `<dataDir>/local-agent-key` or `<dataDir>/local-gateway-key` (mode 0600) while it is still
 * valid for that name and scope, else a new key named `agentName` is made and saved there.
 */
export async function loadOrCreateLocalAgentKey(
  store: Store,
  dataDir: string,
  agentName: string,
  now: number,
  scope: AgentKeyScope = 'agent',
): Promise<string> {
  const path = join(dataDir, scope === 'gateway' ? localGatewayKeyFile : localAgentKeyFile);
  if (existsSync(path)) {
    const saved = readFileSync(path, 'utf8').trim();
    try {
      const agent = await authenticateAgentKey(store, saved, now);
      if (agent.name === agentName && agent.scope === scope) return saved;
    } catch {
      // revoked or from another database: make a new one
    }
  }
  const created = await createAgentKey(store, agentName, now, scope);
  writeFileSync(path, `${created.key}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return created.key;
}

#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../config/resolveConfig.js';
import { configSchema, toFlagName } from '../config/configSchema.js';
import type { Config } from '../config/configSchema.js';
import { isLoopgateError, LoopgateError } from '../core/errors.js';
import { buildJwks, loadOrCreateReceiptKey, loadOrCreateSigningSecret, type Jwks } from '../crypto/signingKeys.js';
import { verifyApprovalResult } from '../crypto/verifyApprovalResult.js';
import { createRemoteApprovalsClient } from '../mcp/approvalsClient.js';
import { createLocalApprovalsClient } from '../mcp/localApprovalsClient.js';
import { serveMcpStdio } from '../mcp/mcpEndpoints.js';
import { createAgentKey, createLoginUrl, ensureDefaultOperator, loadOrCreateLocalAgentKey } from '../service/operatorAuth.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import { createLogger } from './logger.js';
import { databasePath, readRunningServerUrl, startServer } from './startServer.js';

const usage = `loopgate — a human in the loop for AI agents

Usage:
  loopgate serve   [--host 127.0.0.1] [--port 7878] [--data-dir ./.loopgate] [--public-url URL]
  loopgate mcp     [--data-dir D] [--port P]            stdio MCP server with the server embedded
  loopgate mcp     --server-url URL --api-key KEY       stdio MCP server using a remote server
  loopgate login-url [--data-dir D]                    one-time sign-in link (15 minutes, once)
  loopgate keys create --name NAME | keys list | keys revoke ID
  loopgate secret show                                 the HMAC signing secret
  loopgate verify FILE|- [--jwks FILE | --server-url URL] [--signing-secret S]

Every flag is also an env var: --data-dir → LOOPGATE_DATA_DIR, and so on.
`;

const configFlags = Object.fromEntries(
  Object.keys(configSchema.shape).map((key) => [
    toFlagName(key),
    { type: key === 'allowPublicBind' ? ('boolean' as const) : ('string' as const) },
  ]),
);

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...configFlags, name: { type: 'string' }, jwks: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const flags: Record<string, unknown> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = (values as Record<string, unknown>)[toFlagName(key)];
    if (value !== undefined) flags[key] = value;
  }
  return { values: values as Record<string, string | boolean | undefined>, positionals, flags };
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function withStore<T>(config: Config, run: (store: ReturnType<typeof openSqliteStore>) => Promise<T>): Promise<T> {
  const store = openSqliteStore(databasePath(resolve(config.dataDir)));
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

async function commandServe(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  const admin = await ensureDefaultOperator(server.store, Date.now());
  const login = await createLoginUrl(server.store, admin, server.url, Date.now());
  out(`loopgate is running.
  Inbox:    ${server.url}/
  Sign in:  ${login}
            (works once, for 15 minutes; \`loopgate login-url\` prints another)
  MCP:      ${server.url}/mcp  with  Authorization: Bearer <key from \`loopgate keys create --name NAME\`>
  Data:     ${resolve(config.dataDir)}`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

async function isHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return response.ok;
  } catch {
    return false;
  }
}

async function commandMcp(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  if (config.serverUrl) {
    if (!config.apiKey) throw new LoopgateError('E_CONFIG_INVALID', '--server-url needs --api-key (create one on the server with `loopgate keys create --name NAME`).');
    const client = createRemoteApprovalsClient({
      serverUrl: config.serverUrl,
      apiKey: config.apiKey,
      ...(config.signingSecret ? { signingSecret: config.signingSecret } : {}),
    });
    serveMcpStdio(client, (error) => logger.debug({ err: error }, 'mcp stdio error'));
    logger.info({ server: config.serverUrl }, 'loopgate mcp: using a remote server');
    return;
  }
  const dataDir = resolve(config.dataDir);
  const running = readRunningServerUrl(dataDir);
  if (running && (await isHealthy(running))) {
    // One data dir, one server: use the one already running so there is a single inbox and
    // decisions made in it reach this agent at once.
    const apiKey = await withStore(config, (store) => loadOrCreateLocalAgentKey(store, dataDir, config.agentName, Date.now()));
    const client = createRemoteApprovalsClient({
      serverUrl: running,
      apiKey,
      signingSecret: loadOrCreateSigningSecret(dataDir, config.signingSecret),
    });
    serveMcpStdio(client, (error) => logger.debug({ err: error }, 'mcp stdio error'));
    err(`loopgate mcp: using the loopgate server already running on ${dataDir} at ${running}/ (sign in with \`loopgate login-url --data-dir ${dataDir}\`).`);
    return;
  }
  const server = await startServer(config, logger, { fallbackToAnyPort: true });
  const client = createLocalApprovalsClient({
    service: server.service,
    agentId: config.agentName,
    jwks: server.jwks,
    signingSecret: server.signingSecret,
  });
  const handle = serveMcpStdio(client, (error) => logger.debug({ err: error }, 'mcp stdio error'));
  const admin = await ensureDefaultOperator(server.store, Date.now());
  const login = await createLoginUrl(server.store, admin, server.url, Date.now());
  err(`loopgate mcp: inbox at ${server.url}/ — sign in with ${login} (works once, 15 minutes) or run \`loopgate login-url --data-dir ${resolve(config.dataDir)}\`.`);
  const stop = async () => {
    await handle.close().catch(() => undefined);
    await server.close();
    process.exit(0);
  };
  process.stdin.once('end', () => void stop());
  process.stdin.once('close', () => void stop());
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

async function commandLoginUrl(config: Config): Promise<void> {
  const running = readRunningServerUrl(resolve(config.dataDir));
  if (!running) {
    err(`No loopgate server is running on ${resolve(config.dataDir)}. Start one with \`loopgate serve\` (or \`loopgate mcp\`); the link works once it runs.`);
  }
  const url = running ?? config.publicUrl ?? `http://${config.host}:${config.port}`;
  await withStore(config, async (store) => {
    const admin = await ensureDefaultOperator(store, Date.now());
    out(await createLoginUrl(store, admin, url, Date.now()));
  });
  if (!running) process.exitCode = 3;
}

async function commandKeys(config: Config, positionals: string[], values: Record<string, unknown>): Promise<void> {
  const [, sub, arg] = positionals;
  await withStore(config, async (store) => {
    if (sub === 'create') {
      const name = values['name'];
      if (typeof name !== 'string') throw new LoopgateError('E_CLI_USAGE', 'keys create needs --name NAME (the agent id its requests carry).');
      const key = await createAgentKey(store, name, Date.now());
      out(key.key);
      err(`Created agent key ${key.id} for "${key.name}". It is shown once: store it now (e.g. as LOOPGATE_API_KEY).`);
    } else if (sub === 'list') {
      const keys = await store.listAgentKeys();
      if (keys.length === 0) err('No agent keys. Create one with `loopgate keys create --name NAME`.');
      for (const key of keys) {
        const state = key.revokedAt ? `revoked ${new Date(key.revokedAt).toISOString()}` : 'active';
        const used = key.lastUsedAt ? new Date(key.lastUsedAt).toISOString() : 'never';
        out(`${key.id}\t${key.name}\t${key.prefix}…\t${state}\tlast used ${used}`);
      }
    } else if (sub === 'revoke') {
      if (!arg) throw new LoopgateError('E_CLI_USAGE', 'keys revoke needs the key id (see `loopgate keys list`).');
      if (!(await store.revokeAgentKey(arg, Date.now()))) {
        throw new LoopgateError('E_KEY_NOT_FOUND', `No active agent key has id "${arg}"; see \`loopgate keys list\`.`);
      }
      await store.appendAudit({ type: 'agent_key.revoked', requestId: null, actor: 'cli', data: { id: arg } }, Date.now());
      err(`Revoked ${arg}.`);
    } else {
      throw new LoopgateError('E_CLI_USAGE', 'Use `keys create --name NAME`, `keys list` or `keys revoke ID`.');
    }
  });
}

async function readInput(source: string | undefined): Promise<string> {
  if (!source) throw new LoopgateError('E_CLI_USAGE', 'verify needs a file, or - to read standard input.');
  if (source !== '-') return readFileSync(source, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function commandVerify(config: Config, positionals: string[], values: Record<string, unknown>): Promise<void> {
  const text = (await readInput(positionals[1])).trim();
  let input: unknown = text;
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      // An MCP tool result carries the result as structuredContent.
      input = (parsed['structuredContent'] as Record<string, unknown> | undefined) ?? parsed;
    } catch {
      err('INVALID: the input is not valid JSON (it may have been altered).');
      process.exitCode = 1;
      return;
    }
  }
  let jwks: Jwks;
  if (typeof values['jwks'] === 'string') {
    jwks = JSON.parse(readFileSync(values['jwks'], 'utf8')) as Jwks;
  } else if (config.serverUrl) {
    const response = await fetch(`${config.serverUrl.replace(/\/$/, '')}/.well-known/loopgate/jwks.json`);
    if (!response.ok) throw new LoopgateError('E_REMOTE_UNREACHABLE', `Could not fetch the JWKS from ${config.serverUrl} (${response.status}).`);
    jwks = (await response.json()) as Jwks;
  } else {
    jwks = buildJwks([await loadOrCreateReceiptKey(resolve(config.dataDir))]);
  }
  const result = await verifyApprovalResult(input, {
    jwks,
    ...(config.signingSecret ? { secret: config.signingSecret } : {}),
  });
  if (!result.ok) {
    err(`INVALID (${result.code}): ${result.message}`);
    process.exitCode = 1;
    return;
  }
  const p = result.value.payload;
  out(`VALID: ${p.decision} by ${p.responder} at ${p.responded_at} (via ${p.channel}) for pause_id ${p.pause_id}, action_hash ${p.action_hash}${result.value.hmacChecked ? '; HMAC checked' : ''}.`);
}

/** Runs the CLI with `argv` (without node and script). Resolves with the exit code. */
export async function main(argv: string[]): Promise<void> {
  const { values, positionals, flags } = parse(argv);
  const command = positionals[0];
  if (values['help'] || !command) {
    out(usage);
    return;
  }
  const config = resolveConfig(flags);
  switch (command) {
    case 'serve':
      return commandServe(config);
    case 'mcp':
      return commandMcp(config);
    case 'login-url':
      return commandLoginUrl(config);
    case 'keys':
      return commandKeys(config, positionals, values);
    case 'secret':
      if (positionals[1] !== 'show') throw new LoopgateError('E_CLI_USAGE', 'Use `loopgate secret show`.');
      out(loadOrCreateSigningSecret(resolve(config.dataDir), config.signingSecret));
      return;
    case 'verify':
      return commandVerify(config, positionals, values);
    default:
      throw new LoopgateError('E_CLI_USAGE', `Unknown command "${command}".\n\n${usage}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const parseError = error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS');
  if (isLoopgateError(error)) {
    err(`loopgate: ${error.code}: ${error.message}`);
  } else if (parseError) {
    err(`loopgate: E_CLI_USAGE: ${error.message}\n\n${usage}`);
  } else {
    err(`loopgate: ${(error as Error).stack ?? String(error)}`);
  }
  // Exit 2 for a usage mistake (like most CLIs), 1 for everything else.
  process.exit(parseError || isLoopgateError(error, 'E_CLI_USAGE') ? 2 : 1);
});

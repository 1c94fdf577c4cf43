#!/usr/bin/env node
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { environmentForDownstream, resolveConfig } from '../config/resolveConfig.js';
import { configSchema, toFlagName } from '../config/configSchema.js';
import type { Config } from '../config/configSchema.js';
import { isLoopgateError, LoopgateError } from '../core/errors.js';
import { loadOrCreateSigningSecret } from '../crypto/signingKeys.js';
import { verifyApprovalResult } from '../crypto/verifyApprovalResult.js';
import type { ApprovalsClient } from '../mcp/approvalsClient.js';
import type { GatewayBackend } from '../mcp/gatewayBackend.js';
import type { HandoffClient } from '../mcp/handoffClient.js';
import type { Logger } from 'pino';
import {
  createAgentKey,
  createLoginUrl,
  ensureDefaultOperator,
  loadOrCreateLocalAgentKey,
} from '../service/operatorAuth.js';
import { openStore } from './openStore.js';
import { createLogger } from './logger.js';
import { findBrokenAuditEntry } from '../core/auditChain.js';
import { redactDatabaseUrl } from '../core/redactDatabaseUrl.js';
import { createId } from '../core/ids.js';
import { loadOrCreateTotpEncryptionKey } from '../crypto/signingKeys.js';
import { TotpStepUp } from '../service/stepUp.js';
import type { Store } from '../store/store.js';
import type { PostgresStore } from '../store/postgresStore.js';
import type { OperatorRecord } from '../core/records.js';
import { databasePath, readRunningServerUrl } from './dataDirFiles.js';
import { formatCommandHelp, readVersion } from './commandHelp.js';
import { loadVerifyKeys } from './loadVerifyKeys.js';
import { requireDataDir } from './requireDataDir.js';
import { shellQuote } from './shellQuote.js';

const usage = `loopgate — a human in the loop for AI agents

Usage:
  loopgate serve   [--host 127.0.0.1] [--port 7878] [--data-dir ./.loopgate] [--public-url URL]
  loopgate mcp     [--data-dir D] [--port P]            stdio MCP server with the server embedded
  loopgate mcp     --server-url URL --api-key-file FILE stdio MCP server using a remote server
  loopgate proxy   --policy FILE [--downstream-url URL] [-- CMD ARGS…]
                                                       gate another MCP server's tools
  loopgate login-url [--data-dir D] [--enroll]         one-time sign-in link (15 minutes, once);
                                                       --enroll: it may add the admin's first factor
  loopgate keys create --name NAME [--scope agent|gateway] | keys list | keys revoke ID
  loopgate grants list [--all] | grants revoke ID      standing grants; a revoked one forwards nothing
  loopgate operators invite NAME [--role approver|admin] | operators list
  loopgate operators link-slack NAME U… | operators link-email NAME ADDRESS
  loopgate webhooks add URL [--events request.created,request.decided,request.expired]
  loopgate webhooks list | webhooks remove ID
  loopgate totp enroll [--operator NAME] [--replace]   a replacement is confirmed with a first
                                                       code (typed, or one line on stdin)
  loopgate totp unlock --operator NAME
  loopgate audit verify | audit export                 check or dump the hash-chained audit log
  loopgate db migrate [--database-url postgres://…]    bring the database schema up to date
  loopgate db copy --to postgres://… [--data-dir D]   copy a SQLite data dir's database into
                                                       an empty PostgreSQL database
  loopgate secret show                                 the HMAC signing secret
  loopgate verify FILE|- [--jwks FILE|URL | --server-url URL] [--signing-secret S]
  loopgate policy test FILE --tool NAME [--args JSON] [--agent A] [--read-only]
                                                       which rule of a policy a call meets, and why
  loopgate help CMD | loopgate CMD --help              that command's flags and env vars
  loopgate --version

Every setting flag is also an env var: --data-dir → LOOPGATE_DATA_DIR, and so on.
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
    options: {
      ...configFlags,
      name: { type: 'string' },
      jwks: { type: 'string' },
      operator: { type: 'string' },
      role: { type: 'string' },
      scope: { type: 'string' },
      events: { type: 'string' },
      tool: { type: 'string' },
      args: { type: 'string' },
      agent: { type: 'string' },
      'read-only': { type: 'boolean' },
      to: { type: 'string' },
      enroll: { type: 'boolean' },
      replace: { type: 'boolean' },
      all: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
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

/**
 * The data dir of a command that reads an existing one. With --database-url it holds only the
 * keys and secrets (the database is elsewhere), so no loopgate.db is looked for.
 */
function existingDataDir(config: Config): string {
  return config.databaseUrl ? resolve(config.dataDir) : requireDataDir(config.dataDir);
}

async function withStore<T>(config: Config, run: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config, { existingDataDir: true });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

async function commandServe(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const { startServer } = await import('./startServer.js');
  const server = await startServer(config, logger);
  const admin = await ensureDefaultOperator(server.store, Date.now());
  const login = await createLoginUrl(server.store, admin, server.url, Date.now());
  out(`loopgate is running.
  Inbox:    ${server.url}/
  Sign in:  ${login}
            (works once, for 15 minutes; \`loopgate login-url\` prints another)
  MCP:      ${server.url}/mcp  with  Authorization: Bearer <key from \`loopgate keys create --name NAME\`>
  Data:     ${resolve(config.dataDir)}${config.databaseUrl ? `\n  Database: ${redactDatabaseUrl(config.databaseUrl)}` : ''}${
    // Behind a balancer the public URL is the balancer's: say where this server itself listens.
    config.publicUrl ? `\n  Listens:  ${config.host}:${server.port}` : ''
  }`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** How long `mcp` and `proxy` wait for a busy server already running on their data dir, ms. */
const runningServerPatienceMs = 20_000;

/**
 * Whether the server `server.json` names (its process is alive) answers `/healthz`. A refused
 * connection fails at once; a slow answer (a busy machine) is waited for up to
 * {@link runningServerPatienceMs}, so a second server is not started on the same data dir (two
 * inboxes, and `login-url` pointing at the other one).
 */
async function isHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, {
      signal: AbortSignal.timeout(runningServerPatienceMs),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** Where the approval tools and the gateway get their answers, and how to let go of it. */
interface OpenedApprovals {
  client: ApprovalsClient;
  backend: GatewayBackend;
  /** The handoff relay of the same server (browser handoff tools). */
  handoff: HandoffClient;
  close(): Promise<void>;
}

/**
 * The approvals server for `mcp` and `proxy`: a remote one (`--server-url`), the one already
 * running on the data dir, or one embedded in this process.
 */
async function openApprovals(
  config: Config,
  logger: Logger,
  role: string,
): Promise<OpenedApprovals> {
  // Each command loads only what it uses: start-up time is what a desktop client waits for.
  const [
    { createRemoteApprovalsClient },
    { createRemoteGatewayBackend, createLocalGatewayBackend },
    { createRemoteHandoffClient },
    { createRequestStateSealer },
    { createTaskLedger, storeTaskCancellations },
  ] = await Promise.all([
    import('../mcp/approvalsClient.js'),
    import('../mcp/gatewayBackend.js'),
    import('../mcp/handoffClient.js'),
    import('../mcp/requestState.js'),
    import('../mcp/taskLedger.js'),
  ]);
  // This process serves every round of an input-required flow, so its own memory sees replays;
  // a key is one agent.
  const keyAgent = (apiKey: string) =>
    `key:${createHash('sha256').update(apiKey).digest('base64url')}`;
  if (config.serverUrl) {
    if (!config.apiKey) {
      const scope = role === 'proxy' ? ' --scope gateway' : '';
      throw new LoopgateError(
        'E_CONFIG_INVALID',
        `--server-url needs an agent key: --api-key-file FILE or LOOPGATE_API_KEY (create one on the server with \`loopgate keys create --name NAME${scope}\`).`,
      );
    }
    logger.info({ server: config.serverUrl }, `loopgate ${role}: using a remote server`);
    return {
      client: createRemoteApprovalsClient({
        serverUrl: config.serverUrl,
        apiKey: config.apiKey,
        ...(config.signingSecret ? { signingSecret: config.signingSecret } : {}),
        requestState: createRequestStateSealer({
          agentId: keyAgent(config.apiKey),
          secret: config.signingSecret,
        }),
        tasks: createTaskLedger({ agentId: keyAgent(config.apiKey), secret: config.signingSecret }),
      }),
      backend: createRemoteGatewayBackend({
        serverUrl: config.serverUrl,
        apiKey: config.apiKey,
        ...(config.otpOperator ? { otpOperator: config.otpOperator } : {}),
      }),
      handoff: createRemoteHandoffClient({ serverUrl: config.serverUrl, apiKey: config.apiKey }),
      close: async () => undefined,
    };
  }
  const dataDir = resolve(config.dataDir);
  const running = readRunningServerUrl(dataDir);
  if (running && (await isHealthy(running))) {
    // One data dir, one server: use the one already running so there is a single inbox and
    // decisions made in it reach this agent at once.
    // The proxy gets a gateway key of its own (the only kind /v1/gateway/* accepts); mcp an agent key.
    const scope = role === 'proxy' ? 'gateway' : 'agent';
    const apiKey = await withStore(config, (store) =>
      loadOrCreateLocalAgentKey(store, dataDir, config.agentName, Date.now(), scope),
    );
    err(
      `loopgate ${role}: using the loopgate server already running on ${dataDir} at ${running}/ (sign in with \`loopgate login-url --data-dir ${shellQuote(dataDir)}\`).`,
    );
    return {
      client: createRemoteApprovalsClient({
        serverUrl: running,
        apiKey,
        signingSecret: loadOrCreateSigningSecret(dataDir, config.signingSecret),
        retryUnreachableMs: sharedServerRetryMs,
        requestState: createRequestStateSealer({
          agentId: keyAgent(apiKey),
          secret: loadOrCreateSigningSecret(dataDir, config.signingSecret),
        }),
        tasks: createTaskLedger({
          agentId: keyAgent(apiKey),
          secret: loadOrCreateSigningSecret(dataDir, config.signingSecret),
        }),
      }),
      backend: createRemoteGatewayBackend({
        serverUrl: running,
        apiKey,
        ...(config.otpOperator ? { otpOperator: config.otpOperator } : {}),
      }),
      handoff: createRemoteHandoffClient({ serverUrl: running, apiKey }),
      close: async () => undefined,
    };
  }
  const [server, { createLocalApprovalsClient }, { createLocalHandoffClient }] = await Promise.all([
    import('./startServer.js').then(({ startServer }) =>
      startServer(config, logger, { fallbackToAnyPort: true }),
    ),
    import('../mcp/localApprovalsClient.js'),
    import('../mcp/localHandoffClient.js'),
  ]);
  // MCP hosts keep this process's stderr in their log files: print how to get a sign-in link,
  // never a live one.
  err(
    `loopgate ${role}: inbox at ${server.url}/ — for a sign-in link run \`loopgate login-url --data-dir ${shellQuote(dataDir)}\` in a terminal.`,
  );
  return {
    client: createLocalApprovalsClient({
      service: server.service,
      agentId: config.agentName,
      jwks: server.jwks,
      signingSecret: server.signingSecret,
      requestState: createRequestStateSealer({
        agentId: config.agentName,
        secret: server.signingSecret,
        claimOnce: (id, expiresAtMs) =>
          server.store.claimTask(`mcp-request-state:${id}`, Date.now(), expiresAtMs),
      }),
      tasks: createTaskLedger({
        agentId: config.agentName,
        secret: server.signingSecret,
        cancellations: storeTaskCancellations(server.store),
      }),
    }),
    backend: createLocalGatewayBackend({
      service: server.service,
      grants: server.grants,
      store: server.store,
      totp: server.totp,
      agentId: config.agentName,
      ...(config.otpOperator ? { otpOperator: config.otpOperator } : {}),
    }),
    handoff: createLocalHandoffClient({ relay: server.relay, agentId: config.agentName }),
    close: () => server.close(),
  };
}

function stopOnStdinEnd(stop: () => Promise<void>): void {
  const once = () => void stop().finally(() => process.exit(0));
  process.stdin.once('end', once);
  process.stdin.once('close', once);
  process.once('SIGINT', once);
  process.once('SIGTERM', once);
}

async function commandMcp(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const approvals = await openApprovals(config, logger, 'mcp');
  const [{ createHandoffAgent }, { serveMcpStdio }] = await Promise.all([
    import('../mcp/handoffAgent.js'),
    import('../mcp/mcpEndpoints.js'),
  ]);
  const handoff = createHandoffAgent({ client: approvals.handoff, defaultCdpUrl: config.cdpUrl });
  const handle = serveMcpStdio(
    approvals.client,
    (error) => logger.debug({ err: error }, 'mcp stdio error'),
    { handoff },
  );
  stopOnStdinEnd(async () => {
    await handle.close().catch(() => undefined);
    await handoff.closeAll();
    await approvals.close();
  });
}

async function commandProxy(config: Config, positionals: string[]): Promise<void> {
  const command = positionals.slice(1);
  if (!config.policy)
    throw new LoopgateError(
      'E_CLI_USAGE',
      'proxy needs --policy FILE (which tools need which gate).',
    );
  if (command.length === 0 && !config.downstreamUrl) {
    throw new LoopgateError(
      'E_CLI_USAGE',
      'proxy needs the MCP server to wrap: `loopgate proxy --policy FILE -- CMD ARGS…` or --downstream-url URL.',
    );
  }
  const [
    { readPolicyFile },
    { connectDownstream },
    { createGatewayServer, DownstreamToolList, listDownstreamTools },
    { serveFactoryOverStdio },
  ] = await Promise.all([
    import('../gates/policyParse.js'),
    import('../mcp/connectDownstream.js'),
    import('../mcp/gatewayServer.js'),
    import('../mcp/mcpEndpoints.js'),
  ]);
  const policy = await readPolicyFile(config.policy);
  const logger = createLogger(config.logLevel);
  const tools = new DownstreamToolList();
  const downstream = await connectDownstream(
    config.downstreamUrl
      ? { url: config.downstreamUrl }
      : { command, env: environmentForDownstream() },
    {
      onToolsChanged: (list) => {
        tools.replace(list);
        logger.info({ tools: list.length }, 'the wrapped server changed its tools');
      },
      onError: (error) => logger.warn({ err: error }, 'could not re-read the wrapped tools'),
    },
  );
  tools.replace(await listDownstreamTools(downstream));
  const approvals = await openApprovals(config, logger, 'proxy');
  // Rules with `agent:` match who the proxy acts for: its key's name and id, as the server
  // knows them (in-process: --agent-name).
  const agent = policy.rules.some((rule) => rule.agents !== null)
    ? await approvals.backend.identifyAgent().catch((cause: unknown) => {
        throw new LoopgateError(
          isLoopgateError(cause) ? cause.code : 'E_REMOTE_UNREACHABLE',
          `The policy has rules with agent:, so the proxy must know which agent it acts for, and the approvals server could not say: ${(cause as Error).message}`,
          { cause },
        );
      })
    : null;
  const handle = serveFactoryOverStdio(
    () =>
      createGatewayServer({
        downstream,
        tools,
        policy,
        agent,
        backend: approvals.backend,
        approvals: approvals.client,
        urlElicitation: config.urlElicitation,
        onError: (error) => logger.warn({ err: error }, 'gateway call refused'),
      }),
    (error) => logger.debug({ err: error }, 'proxy stdio error'),
  );
  err(
    `loopgate proxy: ${tools.current.length} tools from ${config.downstreamUrl ?? command.join(' ')}, policy ${config.policy}.`,
  );
  stopOnStdinEnd(async () => {
    await handle.close().catch(() => undefined);
    await downstream.close().catch(() => undefined);
    await approvals.close();
  });
}

async function commandLoginUrl(config: Config, values: Record<string, unknown>): Promise<void> {
  const running = readRunningServerUrl(existingDataDir(config));
  if (!running) {
    err(
      `No loopgate server is running on ${resolve(config.dataDir)}. Start one with \`loopgate serve\` (or \`loopgate mcp\`); the link works once it runs.`,
    );
  }
  const url = running ?? config.publicUrl ?? `http://${config.host}:${config.port}`;
  await withStore(config, async (store) => {
    const admin = await ensureDefaultOperator(store, Date.now());
    out(
      await createLoginUrl(store, admin, url, Date.now(), {
        source: values['enroll'] === true ? 'enroll' : 'login',
      }),
    );
  });
  if (!running) process.exitCode = 3;
}

async function commandKeys(
  config: Config,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<void> {
  const [, sub, arg] = positionals;
  await withStore(config, async (store) => {
    if (sub === 'create') {
      const name = values['name'];
      if (typeof name !== 'string')
        throw new LoopgateError(
          'E_CLI_USAGE',
          'keys create needs --name NAME (the agent id its requests carry).',
        );
      const scope = values['scope'] ?? 'agent';
      if (scope !== 'agent' && scope !== 'gateway') {
        throw new LoopgateError(
          'E_CLI_USAGE',
          `--scope must be "agent" (an agent's own key) or "gateway" (a remote loopgate proxy's key); got "${String(scope)}".`,
        );
      }
      const key = await createAgentKey(store, name, Date.now(), scope);
      out(key.key);
      err(
        `Created ${scope} key ${key.id} for "${key.name}". It is shown once: store it now (e.g. as LOOPGATE_API_KEY).`,
      );
    } else if (sub === 'list') {
      const keys = await store.listAgentKeys();
      if (keys.length === 0)
        err('No agent keys. Create one with `loopgate keys create --name NAME`.');
      for (const key of keys) {
        const state = key.revokedAt ? `revoked ${new Date(key.revokedAt).toISOString()}` : 'active';
        const used = key.lastUsedAt ? new Date(key.lastUsedAt).toISOString() : 'never';
        out(`${key.id}\t${key.name}\t${key.scope}\t${key.prefix}…\t${state}\tlast used ${used}`);
      }
    } else if (sub === 'revoke') {
      if (!arg)
        throw new LoopgateError(
          'E_CLI_USAGE',
          'keys revoke needs the key id (see `loopgate keys list`).',
        );
      if (!(await store.revokeAgentKey(arg, Date.now()))) {
        throw new LoopgateError(
          'E_KEY_NOT_FOUND',
          `No active agent key has id "${arg}"; see \`loopgate keys list\`.`,
        );
      }
      await store.appendAudit(
        { type: 'agent_key.revoked', requestId: null, actor: 'cli', data: { id: arg } },
        Date.now(),
      );
      err(`Revoked ${arg}.`);
    } else {
      throw new LoopgateError(
        'E_CLI_USAGE',
        'Use `keys create --name NAME [--scope agent|gateway]`, `keys list` or `keys revoke ID`.',
      );
    }
  });
}

async function commandGrants(
  config: Config,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<void> {
  const [, sub, arg] = positionals;
  const [{ grantStatus }, { describeConstraint }] = await Promise.all([
    import('../service/grantService.js'),
    import('../core/grant.js'),
  ]);
  await withStore(config, async (store) => {
    const now = Date.now();
    if (sub === 'list') {
      const grants = await store.listGrants({
        limit: 500,
        ...(values['all'] ? {} : { liveAt: now }),
      });
      if (grants.length === 0)
        err(values['all'] ? 'No standing grants.' : 'No live standing grants.');
      for (const g of grants) {
        const reach =
          g.reach === 'tool'
            ? Object.entries(g.constraints ?? {})
                .map(([name, c]) => describeConstraint(name, c))
                .join('; ')
            : g.reach === 'exact'
              ? `exact ${g.actionHash?.slice(0, 12) ?? ''}`
              : 'session';
        const uses = `${g.uses}${g.maxUses !== null ? `/${g.maxUses}` : ''} uses`;
        out(
          `${g.id}\t${g.agentId}\t${g.tool}\t${reach}\t${uses}\tuntil ${new Date(g.notAfter).toISOString()}\t${grantStatus(g, now)}`,
        );
      }
    } else if (sub === 'revoke') {
      if (!arg)
        throw new LoopgateError(
          'E_CLI_USAGE',
          'grants revoke needs the grant id (see `loopgate grants list`).',
        );
      const grant = await store.getGrant(arg);
      if (!grant)
        throw new LoopgateError(
          'E_GRANT_NOT_FOUND',
          `No standing grant has id "${arg}"; see \`loopgate grants list --all\`.`,
        );
      const revoked = await store.revokeGrant(arg, 'cli', now, {
        type: 'grant.revoked',
        requestId: grant.pauseId,
        actor: 'cli',
        data: { grant_id: arg },
      });
      err(revoked ? `Revoked ${arg}.` : `${arg} was already revoked.`);
    } else {
      throw new LoopgateError('E_CLI_USAGE', 'Use `grants list [--all]` or `grants revoke ID`.');
    }
  });
}

/** Invite links last a day: the person invited may not be at their desk. */
const inviteTtlMs = 24 * 3_600_000;

async function findOperator(store: Store, name: string | undefined): Promise<OperatorRecord> {
  if (name === undefined) return ensureDefaultOperator(store, Date.now());
  const operator = await store.getOperatorByName(name);
  if (!operator)
    throw new LoopgateError(
      'E_OPERATOR_NOT_FOUND',
      `No operator is named "${name}"; see \`loopgate operators list\`.`,
    );
  return operator;
}

async function commandOperators(
  config: Config,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<void> {
  const [, sub, name] = positionals;
  await withStore(config, async (store) => {
    if (sub === 'list') {
      for (const op of await store.listOperators()) {
        const totp = await store.getTotpEnrollment(op.id);
        const passkeys = (await store.listWebAuthnCredentials(op.id)).length;
        const factor = totp ? (totp.state.lockedAt ? 'totp (locked)' : 'totp') : 'no totp';
        out(`${op.name}\t${op.role}\t${factor}\t${passkeys} passkey(s)`);
      }
      return;
    }
    if (sub === 'link-slack' || sub === 'link-email') {
      const { linkOperatorContact } = await import('./notificationCommands.js');
      return linkOperatorContact(
        store,
        sub === 'link-slack' ? 'slack' : 'email',
        name,
        positionals[3],
        { out, err },
      );
    }
    if (sub !== 'invite' || !name)
      throw new LoopgateError(
        'E_CLI_USAGE',
        'Use `operators invite NAME [--role approver|admin]` or `operators list`.',
      );
    const role = (values['role'] as string | undefined) ?? 'approver';
    if (role !== 'approver' && role !== 'admin')
      throw new LoopgateError('E_CLI_USAGE', `--role must be approver or admin; got "${role}".`);
    if (!/^[\w.@-]{1,64}$/.test(name))
      throw new LoopgateError(
        'E_CLI_USAGE',
        `Operator names are 1-64 letters, digits, . _ @ -; got "${name}".`,
      );
    if (await store.getOperatorByName(name))
      throw new LoopgateError('E_OPERATOR_EXISTS', `An operator named "${name}" exists already.`);
    const now = Date.now();
    const operator = await store.ensureOperator({ id: createId('op'), name, role, now });
    await store.appendAudit(
      { type: 'operator.invited', requestId: null, actor: 'cli', data: { name, role } },
      now,
    );
    const running = readRunningServerUrl(resolve(config.dataDir));
    const base = running ?? config.publicUrl ?? `http://${config.host}:${config.port}`;
    out(await createLoginUrl(store, operator, base, now, { source: 'invite', ttlMs: inviteTtlMs }));
    err(
      `Invited ${name} (${role}). Send them the link above: it works once, for 24 hours, and opens their settings to set up an authenticator.`,
    );
  });
}

async function commandTotp(
  config: Config,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<void> {
  const sub = positionals[1];
  const dataDir = resolve(config.dataDir);
  await withStore(config, async (store) => {
    const { buildTotpUri, createTotpSecret, renderTotpQr } = await import('../gates/index.js');
    const totpKey = loadOrCreateTotpEncryptionKey(dataDir);
    if (config.databaseUrl) {
      // Secrets sealed with another key than the servers' would lock the operator out.
      const { assertDeploymentKeys } = await import('./assertDeploymentKeys.js');
      await assertDeploymentKeys(store as PostgresStore, { totpKey, dataDir });
    }
    const totp = new TotpStepUp(store, totpKey);
    const operator = await findOperator(store, values['operator'] as string | undefined);
    if (sub === 'enroll') {
      const existing = await store.getTotpEnrollment(operator.id);
      if (existing && values['replace'] !== true) {
        throw new LoopgateError(
          'E_TOTP_ALREADY_ENROLLED',
          `${operator.name} has an authenticator already. Run \`loopgate totp enroll --operator ${operator.name} --replace\` to replace it: the old one keeps working until a code from the new one is confirmed.`,
        );
      }
      const secret = createTotpSecret();
      const uri = buildTotpUri({ secret, account: operator.name });
      const qr = await renderTotpQr(uri);
      out(qr.terminal);
      out(uri);
      if (existing) {
        err(
          `Scan the QR code (or enter the URI) in an authenticator app for ${operator.name}, then type the 6-digit code it shows. The old authenticator keeps working until then.`,
        );
        const code = await readCodeLine('Code from the new authenticator: ');
        totp.checkFirstCode(secret, code);
        await totp.enroll(operator, secret, 'cli');
        err(
          `Replaced the authenticator of ${operator.name}; the old one no longer works.${existing.state.lockedAt !== null ? ' It is still locked: run `loopgate totp unlock --operator ' + operator.name + '` to unlock it.' : ''}`,
        );
      } else {
        await totp.enroll(operator, secret, 'cli');
        err(`Scan the QR code (or enter the URI) in an authenticator app for ${operator.name}.`);
      }
    } else if (sub === 'unlock') {
      await totp.unlock(operator, 'cli');
      err(`Unlocked the authenticator of ${operator.name}.`);
    } else {
      throw new LoopgateError(
        'E_CLI_USAGE',
        'Use `totp enroll [--operator NAME]` or `totp unlock --operator NAME`.',
      );
    }
  });
}

/**
 * One line from standard input: typed at a prompt (on stderr) when it is a terminal, else
 * the first line piped in (how tests and scripts answer).
 * @throws LoopgateError E_TOTP_CODE_MALFORMED when standard input ends before a line
 */
async function readCodeLine(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  const lines = createInterface({
    input: process.stdin,
    ...(process.stdin.isTTY ? { output: process.stderr } : {}),
    terminal: process.stdin.isTTY === true,
  });
  if (process.stdin.isTTY) process.stderr.write(prompt);
  try {
    for await (const line of lines) return line.trim();
  } finally {
    lines.close();
  }
  throw new LoopgateError(
    'E_TOTP_CODE_MALFORMED',
    'No code came in: type the 6 digits the new authenticator shows (or pipe them in on one line). Nothing was replaced.',
  );
}

async function commandAudit(config: Config, positionals: string[]): Promise<void> {
  const sub = positionals[1];
  await withStore(config, async (store) => {
    const entries = await store.listAuditEntries(0, Number.MAX_SAFE_INTEGER);
    if (sub === 'export') {
      for (const entry of entries) out(JSON.stringify(entry));
    } else if (sub === 'verify') {
      const broken = findBrokenAuditEntry(entries);
      if (broken) {
        err(`BROKEN: audit entry ${broken.seq}: ${broken.reason}.`);
        process.exitCode = 1;
        return;
      }
      out(`INTACT: ${entries.length} audit entries, each linked to the one before.`);
    } else {
      throw new LoopgateError('E_CLI_USAGE', 'Use `audit verify` or `audit export`.');
    }
  });
}

/**
 * `loopgate db migrate`: applies pending migrations (PostgreSQL or SQLite) and says what it did.
 * `loopgate db copy --to URL`: copies the data dir's SQLite database into an empty PostgreSQL one.
 */
async function commandDb(
  config: Config,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<void> {
  const sub = positionals[1];
  if (sub === 'copy') return commandDbCopy(config, values['to']);
  if (sub !== 'migrate') {
    throw new LoopgateError(
      'E_CLI_USAGE',
      'Use `loopgate db migrate` or `loopgate db copy --to postgres://…`.',
    );
  }
  let where: string;
  let change: { from: number; to: number };
  if (config.databaseUrl) {
    const { migratePostgresDatabase } = await import('../store/postgresStore.js');
    where = redactDatabaseUrl(config.databaseUrl);
    change = await migratePostgresDatabase(config.databaseUrl);
  } else {
    const { migrateSqliteDatabase } = await import('../store/sqliteStore.js');
    where = databasePath(requireDataDir(config.dataDir));
    change = migrateSqliteDatabase(where);
  }
  if (change.from === change.to) {
    out(`${where}: schema version ${change.to} is current; no migration to apply.`);
  } else {
    const count = change.to - change.from;
    out(
      `${where}: applied ${count} migration${count === 1 ? '' : 's'} (${change.from + 1}–${change.to}); schema version ${change.to}.`,
    );
  }
}

async function commandDbCopy(config: Config, to: unknown): Promise<void> {
  if (typeof to !== 'string') {
    throw new LoopgateError(
      'E_CLI_USAGE',
      'db copy needs --to postgres://USER:PASSWORD@HOST:PORT/DATABASE (a new, empty database).',
    );
  }
  const [{ assertPostgresUrl }, { copySqliteToPostgres }] = await Promise.all([
    import('../store/postgresStore.js'),
    import('../store/copySqliteToPostgres.js'),
  ]);
  assertPostgresUrl(to);
  const dataDir = requireDataDir(config.dataDir);
  const counts = await copySqliteToPostgres(databasePath(dataDir), to);
  const n = (table: string) => counts[table] ?? 0;
  out(
    `Copied ${databasePath(dataDir)} to ${redactDatabaseUrl(to)}: ${n('approvals')} requests, ${n('agent_keys')} agent keys, ${n('operators')} operators, ${n('operator_totp')} TOTP enrolments, ${n('webauthn_credentials')} passkeys, ${n('webhook_endpoints')} webhooks, ${n('audit_log')} audit entries.`,
  );
  err(
    `Start every server with --database-url (LOOPGATE_DATABASE_URL) and a data dir holding this one's keys (receipt-signing-key.pem, signing-secret, totp-encryption-key); stop servers on the SQLite database first.`,
  );
}

async function readInput(source: string | undefined): Promise<string> {
  if (!source)
    throw new LoopgateError('E_CLI_USAGE', 'verify needs a file, or - to read standard input.');
  if (source !== '-') {
    try {
      return readFileSync(source, 'utf8');
    } catch (cause) {
      throw new LoopgateError(
        'E_CLI_FILE_NOT_FOUND',
        `Could not read ${resolve(source)}: ${(cause as Error).message}. Give the file of the result or receipt, or - to read standard input.`,
        { cause },
      );
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function commandVerify(
  config: Config,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<void> {
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
  const jwks = await loadVerifyKeys({
    dataDir: config.dataDir,
    ...(typeof values['jwks'] === 'string' ? { jwks: values['jwks'] } : {}),
    ...(config.serverUrl ? { serverUrl: config.serverUrl } : {}),
  });
  const { isGrantJws, verifyGrant } = await import('../crypto/grantReceipt.js');
  const grantJws =
    typeof input === 'string'
      ? input
      : typeof (input as Record<string, unknown> | null)?.['receipt'] === 'string'
        ? ((input as Record<string, unknown>)['receipt'] as string)
        : '';
  if (isGrantJws(grantJws)) {
    const grant = await verifyGrant(grantJws, jwks);
    if (!grant.ok) {
      err(`INVALID (${grant.code}): ${grant.message}`);
      process.exitCode = 1;
      return;
    }
    const g = grant.value.payload;
    const scope =
      g.reach === 'tool'
        ? `constraints ${JSON.stringify(g.constraints)}`
        : g.reach === 'exact'
          ? `action_hash ${g.action_hash ?? ''}`
          : `session ${g.session_id ?? ''}`;
    const expired = Date.parse(g.not_after) <= Date.now() ? ' (expired)' : '';
    out(
      `VALID GRANT ${g.grant_id}: ${g.tool} for agent ${g.agent}, ${g.reach} (${scope}), granted by ${g.granted_by} at ${g.granted_at}, not_after ${g.not_after}${expired}, max_uses ${g.max_uses ?? 'unbounded'}; whether it is revoked or used up only the server knows.`,
    );
    return;
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
  out(
    `VALID: ${p.decision} by ${p.responder} at ${p.responded_at} (via ${p.channel}) for pause_id ${p.pause_id}, action_hash ${p.action_hash}${result.value.hmacChecked ? '; HMAC checked' : ''}.`,
  );
}

/** How long `loopgate mcp` on a running server's data dir keeps retrying while that server restarts. */
const sharedServerRetryMs = 5_000;

function printCommandHelp(command: string): void {
  const text = formatCommandHelp(command);
  if (text === null)
    throw new LoopgateError('E_CLI_USAGE', `Unknown command "${command}".\n\n${usage}`);
  out(text);
}

function isMissingFile(error: unknown): error is NodeJS.ErrnoException & { path: string } {
  return (
    error instanceof Error &&
    (error as NodeJS.ErrnoException).code === 'ENOENT' &&
    typeof (error as NodeJS.ErrnoException).path === 'string'
  );
}

/** Runs the CLI with `argv` (without node and script). Resolves with the exit code. */
export async function main(argv: string[]): Promise<void> {
  const { values, positionals, flags } = parse(argv);
  const command = positionals[0];
  if (values['version']) {
    out(readVersion());
    return;
  }
  if (command === 'help' && positionals[1]) return printCommandHelp(positionals[1]);
  if (values['help'] && command) return printCommandHelp(command);
  if (values['help'] || !command || command === 'help') {
    out(usage);
    return;
  }
  const config = resolveConfig(flags);
  switch (command) {
    case 'serve':
      return commandServe(config);
    case 'mcp':
      return commandMcp(config);
    case 'proxy':
      return commandProxy(config, positionals);
    case 'login-url':
      return commandLoginUrl(config, values);
    case 'operators':
      return commandOperators(config, positionals, values);
    case 'totp':
      return commandTotp(config, positionals, values);
    case 'audit':
      return commandAudit(config, positionals);
    case 'db':
      return commandDb(config, positionals, values);
    case 'webhooks': {
      const { commandWebhooks } = await import('./notificationCommands.js');
      return withStore(config, (store) =>
        commandWebhooks(store, positionals, values['events'] as string | undefined, { out, err }),
      );
    }
    case 'keys':
      return commandKeys(config, positionals, values);
    case 'grants':
      return commandGrants(config, positionals, values);
    case 'secret':
      if (positionals[1] !== 'show')
        throw new LoopgateError('E_CLI_USAGE', 'Use `loopgate secret show`.');
      out(config.signingSecret ?? loadOrCreateSigningSecret(existingDataDir(config)));
      return;
    case 'verify':
      return commandVerify(config, positionals, values);
    case 'policy': {
      const { commandPolicy } = await import('./policyCommand.js');
      return commandPolicy(
        positionals,
        {
          tool: values['tool'],
          args: values['args'],
          agent: values['agent'],
          readOnly: values['read-only'],
        },
        out,
      );
    }
    default:
      throw new LoopgateError('E_CLI_USAGE', `Unknown command "${command}".\n\n${usage}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const parseError =
    error instanceof TypeError &&
    (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS');
  if (isLoopgateError(error)) {
    err(`loopgate: ${error.code}: ${error.message}`);
  } else if (isMissingFile(error)) {
    err(
      `loopgate: E_CLI_FILE_NOT_FOUND: ${error.path}: no such file (${error.syscall ?? 'open'}).`,
    );
  } else if (parseError) {
    err(`loopgate: E_CLI_USAGE: ${error.message}\n\n${usage}`);
  } else {
    err(`loopgate: ${(error as Error).stack ?? String(error)}`);
  }
  // Exit 2 for a usage mistake (like most CLIs), 1 for everything else.
  process.exit(parseError || isLoopgateError(error, 'E_CLI_USAGE') ? 2 : 1);
});

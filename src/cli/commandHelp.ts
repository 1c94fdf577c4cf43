import { readFileSync } from 'node:fs';
import { configSchema, toEnvName, toFlagName, type Config } from '../config/configSchema.js';

/** One command's help: how it is called, what it does, and which settings it reads. */
interface CommandSpec {
  usage: string[];
  summary: string;
  /** Settings from the config schema; their flag, env var, default and doc line are derived. */
  settings: (keyof Config)[];
  /** Flags that are not settings (no env var): `[flag, description]`. */
  flags?: [string, string][];
}

const serverSettings: (keyof Config)[] = [
  'dataDir',
  'databaseUrl',
  'host',
  'port',
  'publicUrl',
  'internalUrl',
  'allowPublicBind',
  'signingSecret',
  'maxBodyBytes',
];
const notificationSettings: (keyof Config)[] = [
  'slackBotToken',
  'slackSigningSecret',
  'slackApiUrl',
  'smtpUrl',
  'emailFrom',
  'fallbackAfterMinutes',
  'reminderBeforeMinutes',
  'escalationSlack',
  'escalationEmail',
  'escalateAfterMinutes',
  'allowedEmailRecipients',
  'allowedSlackRecipients',
  'agentNotificationsPerHour',
];
const remoteSettings: (keyof Config)[] = ['serverUrl', 'apiKey', 'apiKeyFile'];
const common: (keyof Config)[] = ['logLevel', 'config'];

/** Every command `loopgate help CMD` knows. */
export const commandSpecs: Record<string, CommandSpec> = {
  serve: {
    usage: [
      'loopgate serve [--host 127.0.0.1] [--port 7878] [--data-dir ./.loopgate] [--public-url URL]',
    ],
    summary: 'Runs the server: API, inbox, /mcp, JWKS. Prints a one-time sign-in link on start.',
    settings: [...serverSettings, 'waitRecheckSeconds', ...notificationSettings, ...common],
  },
  mcp: {
    usage: [
      'loopgate mcp [--data-dir D] [--port P]',
      'LOOPGATE_API_KEY=lg_… loopgate mcp --server-url URL',
      'loopgate mcp --server-url URL --api-key-file FILE',
    ],
    summary:
      'A stdio MCP server for desktop clients: uses the server already running on the data dir, embeds one, or talks to a remote one (--server-url). Never prints a sign-in link: run `loopgate login-url` in a terminal.',
    settings: [
      ...serverSettings,
      ...remoteSettings,
      'agentName',
      'cdpUrl',
      ...notificationSettings,
      ...common,
    ],
  },
  proxy: {
    usage: ['loopgate proxy --policy FILE [--downstream-url URL] [-- CMD ARGS…]'],
    summary:
      'Wraps another MCP server (a command, which gets this environment minus LOOPGATE_* variables, or a URL) and holds back the tools the policy names until a human approves.',
    settings: [
      'policy',
      'downstreamUrl',
      'otpOperator',
      'urlElicitation',
      ...serverSettings,
      ...remoteSettings,
      'agentName',
      ...common,
    ],
  },
  'login-url': {
    usage: ['loopgate login-url [--data-dir D] [--enroll]'],
    summary:
      'A one-time sign-in link for the server running on the data dir (15 minutes, works once).',
    settings: ['dataDir', 'databaseUrl', 'publicUrl', ...common],
    flags: [
      ['--enroll', 'its session may add the operator’s first second factor (TOTP or passkey)'],
    ],
  },
  keys: {
    usage: ['loopgate keys create --name NAME', 'loopgate keys list', 'loopgate keys revoke ID'],
    summary:
      'Agent API keys: shown once, stored hashed; NAME is the agent_id of that agent’s requests.',
    settings: ['dataDir', 'databaseUrl', ...common],
    flags: [['--name NAME', 'keys create: the agent id its requests carry']],
  },
  grants: {
    usage: ['loopgate grants list [--all]', 'loopgate grants revoke ID'],
    summary:
      'Standing grants (approvals that reach beyond one call): list the live ones (--all: every one), or revoke one; it forwards nothing from the next call on.',
    settings: ['dataDir', ...common],
    flags: [['--all', 'grants list: expired, used-up and revoked grants too']],
  },
  operators: {
    usage: [
      'loopgate operators invite NAME [--role approver|admin]',
      'loopgate operators list',
      'loopgate operators link-slack NAME U…',
      'loopgate operators link-email NAME ADDRESS',
    ],
    summary:
      'Operators (the humans who decide), their invite links, and who may decide from Slack and email.',
    settings: ['dataDir', 'databaseUrl', 'publicUrl', ...common],
    flags: [
      ['--role approver|admin', 'operators invite: what the operator may do (default approver)'],
    ],
  },
  webhooks: {
    usage: [
      'loopgate webhooks add URL [--events request.created,request.decided,request.expired]',
      'loopgate webhooks list',
      'loopgate webhooks remove ID',
    ],
    summary: 'Standard Webhooks endpoints told about requests.',
    settings: ['dataDir', 'databaseUrl', ...common],
    flags: [['--events a,b', 'webhooks add: which events to send (default all)']],
  },
  totp: {
    usage: [
      'loopgate totp enroll [--operator NAME] [--replace]',
      'loopgate totp unlock --operator NAME',
    ],
    summary: 'Authenticator codes (TOTP) on the terminal.',
    settings: ['dataDir', 'databaseUrl', ...common],
    flags: [
      ['--operator NAME', 'whose authenticator (default the first admin)'],
      [
        '--replace',
        'totp enroll: replace an existing authenticator after a first code from the new one',
      ],
    ],
  },
  audit: {
    usage: ['loopgate audit verify', 'loopgate audit export'],
    summary: 'Checks or dumps the hash-chained audit log.',
    settings: ['dataDir', 'databaseUrl', ...common],
  },
  db: {
    usage: [
      'loopgate db migrate [--database-url postgres://…]',
      'loopgate db copy --to postgres://… [--data-dir D]',
    ],
    summary:
      'migrate: brings the database schema up to date (servers also do this on start) and says which migrations it applied. copy: moves the data dir’s SQLite database (requests, keys, operators, factors, webhooks, audit log) into an empty PostgreSQL database.',
    settings: ['dataDir', 'databaseUrl', ...common],
    flags: [['--to postgres://…', 'db copy: the empty PostgreSQL database to copy into']],
  },
  secret: {
    usage: ['loopgate secret show'],
    summary: 'Prints the HMAC signing secret of the data dir (or LOOPGATE_SIGNING_SECRET).',
    settings: ['dataDir', 'signingSecret', ...common],
  },
  verify: {
    usage: [
      'loopgate verify FILE|- [--jwks FILE|URL | --server-url URL | --data-dir D] [--signing-secret S]',
    ],
    summary:
      'Checks a result, receipt or signed standing grant offline: exit 0 and what was approved when valid, exit 1 and why when not.',
    settings: ['dataDir', 'serverUrl', 'signingSecret', ...common],
    flags: [['--jwks FILE|URL', 'the public keys to check against (no data dir needed)']],
  },
  policy: {
    usage: ['loopgate policy test FILE --tool NAME [--args JSON] [--agent NAME] [--read-only]'],
    summary:
      'Prints which rule of a policy file a tool call meets and why each rule before it did not (exit 0 whatever the gate).',
    settings: [...common],
    flags: [
      ['--tool NAME', 'the tool called'],
      ['--args JSON', 'its arguments, a JSON object (default {})'],
      ['--agent NAME', 'the agent key name (or id) the proxy acts for, for rules with agent:'],
      ['--read-only', 'the wrapped tool is annotated readOnlyHint: true (rules with read_only:)'],
    ],
  },
};

/** The loopgate version, from package.json. */
export function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function describeSetting(key: keyof Config): { flag: string; env: string; text: string } {
  const field = configSchema.shape[key] as unknown as {
    description?: string;
    def: { type: string; defaultValue?: unknown };
  };
  const isBoolean = key === 'allowPublicBind';
  const fallback =
    field.def.type === 'default' ? ` (default ${String(field.def.defaultValue)})` : '';
  return {
    flag: `--${toFlagName(key)}${isBoolean ? '' : ' VALUE'}`,
    env: toEnvName(key),
    text: `${field.description ?? ''}${fallback}`,
  };
}

/**
 * `loopgate help CMD` / `loopgate CMD --help`: usage, what it does, and every flag it reads with
 * its environment variable, default and doc line, taken from the config schema.
 * @returns the text, or null for an unknown command
 */
export function formatCommandHelp(command: string): string | null {
  const spec = commandSpecs[command];
  if (!spec) return null;
  const rows = spec.settings.map(describeSetting);
  const width = Math.max(
    ...rows.map((r) => r.flag.length),
    ...(spec.flags ?? []).map(([f]) => f.length),
  );
  const envWidth = Math.max(...rows.map((r) => r.env.length));
  const lines = [
    `loopgate ${command} — ${spec.summary}`,
    '',
    'Usage:',
    ...spec.usage.map((u) => `  ${u}`),
    '',
    'Flags (flag · environment variable · what it does):',
    ...(spec.flags ?? []).map(
      ([flag, text]) => `  ${flag.padEnd(width)}  ${'(flag only)'.padEnd(envWidth)}  ${text}`,
    ),
    ...rows.map((r) => `  ${r.flag.padEnd(width)}  ${r.env.padEnd(envWidth)}  ${r.text}`),
    '',
    'Flags win over environment variables, which win over the --config file.',
  ];
  return lines.join('\n');
}

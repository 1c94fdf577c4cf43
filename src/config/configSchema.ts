import { z } from 'zod';
import { parseInternalUrl } from '../core/internalUrl.js';

/** A list setting: a JSON array in the config file, or comma-separated in a flag or env var. */
const listSetting = z
  .union([z.array(z.string()), z.string()])
  .transform((v) =>
    (typeof v === 'string' ? v.split(',') : v).map((s) => s.trim()).filter((s) => s !== ''),
  );

const booleanFlag = z.union([
  z.boolean(),
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .transform((v) => ['true', '1', 'yes'].includes(v)),
]);

/**
 * Every setting loopgate reads, one doc line each. Each field is a CLI flag (`--kebab-case`),
 * an env var (`LOOPGATE_SNAKE_CASE`) and a key in the JSON file given by `--config`.
 */
export const configSchema = z
  .object({
    dataDir: z
      .string()
      .min(1)
      .default('./.loopgate')
      .describe('Folder for the database, keys and secrets.'),
    databaseUrl: z
      .string()
      .min(1)
      .refine((v) => /^postgres(ql)?:\/\//.test(v), {
        message: 'expected postgres://USER:PASSWORD@HOST:PORT/DATABASE',
      })
      .optional()
      .describe(
        'PostgreSQL database (postgres://…) shared by every server of a deployment; default SQLite in the data dir.',
      ),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Address the server binds; loopback unless --allow-public-bind.'),
    port: z.coerce
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(7878)
      .describe('TCP port of the server (0 = any free port).'),
    publicUrl: z
      .url()
      .optional()
      .describe(
        'URL humans open (approval and sign-in links, WebAuthn); default http://<host>:<port>.',
      ),
    internalUrl: z
      .string()
      .refine((v) => parseInternalUrl(v).ok, { message: 'expected http://host:port' })
      .optional()
      .describe(
        'URL the other servers of a deployment reach this one at (handoff forwarding); default http://<host>:<port>.',
      ),
    allowPublicBind: booleanFlag
      .default(false)
      .describe('Allow binding a non-loopback address (put TLS in front of it).'),
    signingSecret: z
      .string()
      .min(16)
      .optional()
      .describe('HMAC secret for response.signature; default a random one in the data dir.'),
    serverUrl: z
      .url()
      .optional()
      .describe('Use a remote loopgate server instead of embedding one (mcp).'),
    apiKey: z
      .string()
      .optional()
      .describe(
        'Agent key for --server-url (from `loopgate keys create`); prefer the env var or --api-key-file: a flag shows in every local user’s process list.',
      ),
    apiKeyFile: z
      .string()
      .min(1)
      .optional()
      .describe('A file holding the agent key for --server-url (read once at start, trimmed).'),
    policy: z
      .string()
      .min(1)
      .optional()
      .describe('proxy: the policy file (YAML or JSON) naming which tools need which gate.'),
    downstreamUrl: z
      .url()
      .optional()
      .describe('proxy: a streamable-HTTP MCP server to wrap instead of a command.'),
    otpOperator: z
      .string()
      .min(1)
      .optional()
      .describe(
        'proxy: whose authenticator `otp` arguments are checked against; default the first admin.',
      ),
    urlElicitation: z
      .enum(['request', 'error'])
      .default('request')
      .describe(
        'proxy: how a held call sends a client that declares URL elicitation (2025-11-25) to the approval page: request (elicitation/create during the call) or error (JSON-RPC error -32042; the client retries after the human decided).',
      ),
    cdpUrl: z
      .string()
      .min(1)
      .optional()
      .describe(
        'mcp: the agent browser’s DevTools endpoint browser_handoff uses when the call gives no cdp_url.',
      ),
    agentName: z
      .string()
      .min(1)
      .max(64)
      .default('local')
      .describe(
        'Agent id of requests made through the embedded server or the one on the data dir (mcp, proxy); what policy rules with agent: match there.',
      ),
    slackBotToken: z
      .string()
      .min(1)
      .optional()
      .describe('Slack bot token (xoxb-…) for chat.postMessage; Slack is off without it.'),
    slackSigningSecret: z
      .string()
      .min(1)
      .optional()
      .describe('Slack signing secret; checks POST /v1/slack/actions (v0 signature).'),
    slackApiUrl: z
      .url()
      .optional()
      .describe('Slack Web API base URL; default https://slack.com/api.'),
    smtpUrl: z
      .string()
      .min(1)
      .optional()
      .describe(
        'SMTP server for email, smtp://user:pass@host:587 or smtps://…:465; email is off without it.',
      ),
    emailFrom: z
      .string()
      .min(1)
      .optional()
      .describe('From address of approval mail, e.g. "Loopgate <approvals@example.com>".'),
    fallbackAfterMinutes: z.coerce
      .number()
      .min(0)
      .max(10_080)
      .default(10)
      .describe('Minutes without a Slack decision before the email fallback goes out.'),
    reminderBeforeMinutes: z.coerce
      .number()
      .min(0)
      .max(10_080)
      .default(15)
      .describe('Minutes before expiry to remind in Slack and by mail (0 = no reminders).'),
    escalationSlack: z
      .string()
      .min(1)
      .optional()
      .describe('Slack #channel or user id to escalate undecided requests to.'),
    escalationEmail: z
      .string()
      .min(1)
      .optional()
      .describe('Email address to escalate undecided requests to.'),
    escalateAfterMinutes: z.coerce
      .number()
      .min(0)
      .max(10_080)
      .default(30)
      .describe('Minutes without a decision before the escalation group is told.'),
    allowedEmailRecipients: listSetting
      .default([])
      .describe(
        'Addresses (ops@example.com) and domains (@example.com) agents may mail besides linked operators; comma-separated.',
      ),
    allowedSlackRecipients: listSetting
      .default([])
      .describe(
        'Slack channel ids (C…), #channel names and user ids agents may notify besides linked operators; comma-separated.',
      ),
    agentNotificationsPerHour: z.coerce
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(30)
      .describe(
        'Mail and Slack messages about one agent’s requests per hour, across all recipients (0 = none).',
      ),
    maxBodyBytes: z.coerce
      .number()
      .int()
      .min(1_024)
      .max(1_073_741_824)
      .default(1_048_576)
      .describe(
        'Largest request body the server reads, in bytes (chunked bodies included); larger ones get 413.',
      ),
    waitRecheckSeconds: z.coerce
      .number()
      .min(0.05)
      .max(300)
      .default(2)
      .describe(
        'Several servers on one PostgreSQL database: seconds between re-reads of the requests an agent waits on here, in case a change notification was lost.',
      ),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level (logs go to stderr).'),
    config: z.string().optional().describe('A JSON file with any of these settings.'),
  })
  .strict();

/** The resolved configuration. */
export type Config = z.infer<typeof configSchema>;

/** `dataDir` → `data-dir`. */
export function toFlagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `dataDir` → `LOOPGATE_DATA_DIR`. */
export function toEnvName(key: string): string {
  return `LOOPGATE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

import pino, { type Logger } from 'pino';

/** Paths pino blanks out wherever they appear in a log line. */
export const redactedPaths = [
  'authorization',
  'cookie',
  'token',
  'apiKey',
  'api_key',
  'key',
  'secret',
  'signingSecret',
  'csrf_token',
  'receipt',
  '*.authorization',
  '*.cookie',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.signingSecret',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-loopgate-session"]',
];

/**
 * The process logger: pino writing JSON lines to stderr (fd 2), never stdout, so stdio MCP
 * stays clean. Secrets are redacted by path.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'loopgate' }, redact: { paths: redactedPaths, censor: '[redacted]' } }, pino.destination(2));
}

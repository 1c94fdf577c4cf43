import { readFileSync } from 'node:fs';
import { LoopgateError } from '../core/errors.js';
import { redactDatabaseUrl } from '../core/redactDatabaseUrl.js';
import { parseInternalUrl } from '../core/internalUrl.js';
import { configSchema, toEnvName, toFlagName, type Config } from './configSchema.js';

const keys = Object.keys(configSchema.shape) as (keyof Config)[];

/**
 * Merges defaults < JSON file (`--config` / `LOOPGATE_CONFIG`) < `LOOPGATE_*` env vars < flags,
 * and validates the result. The only place loopgate reads `process.env`.
 *
 * @param flags parsed CLI flags, camelCase keys (strings or booleans as given)
 * @param env the environment (defaults to `process.env`)
 * @throws LoopgateError E_CONFIG_INVALID naming the flag, env var or file key that is wrong
 */
export function resolveConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const fromEnv: Record<string, unknown> = {};
  for (const key of keys) {
    const value = env[toEnvName(key)];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const fromFlags = Object.fromEntries(
    Object.entries(flags).filter(([k, v]) => keys.includes(k as keyof Config) && v !== undefined),
  );
  const configPath = (fromFlags['config'] ?? fromEnv['config']) as string | undefined;
  let fromFile: Record<string, unknown> = {};
  if (configPath) {
    try {
      fromFile = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new LoopgateError(
        'E_CONFIG_INVALID',
        `Could not read the config file ${configPath}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  const merged = { ...fromFile, ...fromEnv, ...fromFlags };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const source =
      key in fromFlags
        ? `--${toFlagName(key)}`
        : key in fromEnv
          ? toEnvName(key)
          : key in fromFile
            ? `"${key}" in ${configPath}`
            : key || 'config';
    const given = merged[key as keyof typeof merged];
    // A database URL may hold a password: echo it redacted.
    const shown =
      key === 'databaseUrl' && typeof given === 'string' ? redactDatabaseUrl(given) : given;
    throw new LoopgateError(
      'E_CONFIG_INVALID',
      `${source}: ${issue.message}${key in merged ? ` (got ${JSON.stringify(shown)})` : ''}`,
    );
  }
  return readApiKeyFile(parsed.data);
}

/**
 * Moves the agent key from `--api-key-file` into `apiKey`: a key on the command line is
 * visible to every local user in the process list (`/proc/<pid>/cmdline`), a file is not.
 * @throws LoopgateError E_CONFIG_API_KEY_FILE when the file is missing, unreadable or empty;
 *   E_CONFIG_INVALID when a key is given both ways
 */
function readApiKeyFile(config: Config): Config {
  const file = config.apiKeyFile;
  if (file === undefined) return config;
  if (config.apiKey !== undefined) {
    throw new LoopgateError(
      'E_CONFIG_INVALID',
      '--api-key-file and --api-key (or LOOPGATE_API_KEY) are both set; give the agent key one way only.',
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const reason =
      (cause as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'there is no such file'
        : (cause as Error).message;
    throw new LoopgateError(
      'E_CONFIG_API_KEY_FILE',
      `--api-key-file ${file}: could not read it (${reason}); expected a file holding one agent key.`,
      { cause },
    );
  }
  const apiKey = text.trim();
  if (apiKey === '') {
    throw new LoopgateError(
      'E_CONFIG_API_KEY_FILE',
      `--api-key-file ${file} is empty; expected one agent key (from \`loopgate keys create --name NAME\`).`,
    );
  }
  return { ...config, apiKey };
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return (
    host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

/**
 * Refuses to bind a non-loopback address unless `allowPublicBind` is set.
 * @throws LoopgateError E_CONFIG_PUBLIC_BIND
 */
export function assertSafeBind(config: Pick<Config, 'host' | 'allowPublicBind'>): void {
  if (!isLoopbackHost(config.host) && !config.allowPublicBind) {
    throw new LoopgateError(
      'E_CONFIG_PUBLIC_BIND',
      `--host ${config.host} would expose loopgate beyond this machine. Put it behind TLS (a reverse proxy) and pass --allow-public-bind with --public-url https://…`,
    );
  }
}

/**
 * Where the other servers of a deployment reach this one (the directory of servers, for
 * handoff forwarding): `--internal-url` when given, else `http://<host>:<port>` of the listen
 * address. A wildcard host (0.0.0.0, ::) names no address a peer on another machine could use:
 * on a shared PostgreSQL database (`databaseUrl`) that is refused; on SQLite, whose servers all
 * share one file and so one machine, the loopback address is used. Call it before listening
 * (with the configured port) to fail early, and after (with the bound port) for the value.
 * @throws LoopgateError E_CONFIG_INTERNAL_URL for a wildcard host on a shared database without
 *   `--internal-url`
 */
export function resolveInternalUrl(
  config: Pick<Config, 'host' | 'internalUrl'> & { databaseUrl?: string | undefined },
  port: number,
): string {
  if (config.internalUrl !== undefined) {
    const parsed = parseInternalUrl(config.internalUrl);
    if (!parsed.ok) throw new LoopgateError(parsed.code, `--internal-url: ${parsed.message}`);
    return parsed.value.origin;
  }
  const host = config.host.replace(/^\[(.*)\]$/, '$1');
  if (host === '0.0.0.0' || (host.includes(':') && /^[0:]+$/.test(host))) {
    if (!config.databaseUrl) return `http://${host === '0.0.0.0' ? '127.0.0.1' : '[::1]'}:${port}`;
    throw new LoopgateError(
      'E_CONFIG_INTERNAL_URL',
      `--host ${config.host} listens on every address, so the URL the other loopgate servers on this database reach this one at cannot be derived from it; pass --internal-url http://<this machine's address>:<port> (LOOPGATE_INTERNAL_URL).`,
    );
  }
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The environment `loopgate proxy` gives the MCP server it wraps: its own, so the server's
 * credentials (GITHUB_TOKEN and the like) reach it, minus loopgate's own `LOOPGATE_*`
 * settings (the agent key, the signing secret), which that server has no use for.
 * @param env the environment (defaults to `process.env`)
 */
export function environmentForDownstream(
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !name.toUpperCase().startsWith('LOOPGATE_')) result[name] = value;
  }
  return result;
}

import { readFileSync } from 'node:fs';
import { LoopgateError } from '../core/errors.js';
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
export function resolveConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv: Record<string, unknown> = {};
  for (const key of keys) {
    const value = env[toEnvName(key)];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const fromFlags = Object.fromEntries(Object.entries(flags).filter(([k, v]) => keys.includes(k as keyof Config) && v !== undefined));
  const configPath = (fromFlags['config'] ?? fromEnv['config']) as string | undefined;
  let fromFile: Record<string, unknown> = {};
  if (configPath) {
    try {
      fromFile = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new LoopgateError('E_CONFIG_INVALID', `Could not read the config file ${configPath}: ${(cause as Error).message}`, { cause });
    }
  }
  const merged = { ...fromFile, ...fromEnv, ...fromFlags };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const source =
      key in fromFlags ? `--${toFlagName(key)}` : key in fromEnv ? toEnvName(key) : key in fromFile ? `"${key}" in ${configPath}` : key || 'config';
    throw new LoopgateError('E_CONFIG_INVALID', `${source}: ${issue.message}${key in merged ? ` (got ${JSON.stringify(merged[key as keyof typeof merged])})` : ''}`);
  }
  return parsed.data;
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
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

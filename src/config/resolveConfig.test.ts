import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import {
  assertSafeBind,
  environmentForDownstream,
  resolveConfig,
  resolveInternalUrl,
} from './resolveConfig.js';

function errorOf(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (err) {
    if (isLoopgateError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a LoopgateError');
}

describe('resolveConfig', () => {
  it('applies defaults < file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ port: 9000, host: '127.0.0.2', logLevel: 'warn' }));
    const config = resolveConfig(
      { config: file, logLevel: 'debug' },
      { LOOPGATE_HOST: '127.0.0.3', LOOPGATE_LOG_LEVEL: 'error' },
    );
    expect(config).toMatchObject({
      port: 9000,
      host: '127.0.0.3',
      logLevel: 'debug',
      dataDir: './.loopgate',
      allowPublicBind: false,
    });
    expect(resolveConfig({}, {})).toMatchObject({
      host: '127.0.0.1',
      port: 7878,
      agentName: 'local',
    });
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the flag, the env var or the file key that is wrong', () => {
    expect(errorOf(() => resolveConfig({ port: 'seventy' }, {}))).toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: expect.stringMatching(/^--port: .*"seventy"/),
    });
    expect(errorOf(() => resolveConfig({}, { LOOPGATE_PUBLIC_URL: 'not a url' })).message).toMatch(
      /^LOOPGATE_PUBLIC_URL:/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ logLevel: 'loud' }));
    expect(errorOf(() => resolveConfig({ config: file }, {})).message).toMatch(
      /"logLevel" in .*config\.json/,
    );
    writeFileSync(file, '{ not json');
    expect(errorOf(() => resolveConfig({ config: file }, {})).message).toMatch(
      /Could not read the config file/,
    );
    writeFileSync(file, JSON.stringify({ colour: 'blue' }));
    expect(errorOf(() => resolveConfig({ config: file }, {})).code).toBe('E_CONFIG_INVALID');
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a public bind unless allowed', () => {
    expect(errorOf(() => assertSafeBind({ host: '0.0.0.0', allowPublicBind: false })).code).toBe(
      'E_CONFIG_PUBLIC_BIND',
    );
    expect(() => assertSafeBind({ host: '0.0.0.0', allowPublicBind: true })).not.toThrow();
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.1.2.3']) {
      expect(() => assertSafeBind({ host, allowPublicBind: false })).not.toThrow();
    }
    expect(resolveConfig({}, { LOOPGATE_ALLOW_PUBLIC_BIND: 'true' }).allowPublicBind).toBe(true);
  });

  it('derives the internal URL from the listen address, or takes --internal-url; refuses a wildcard host on a shared database', () => {
    expect(resolveInternalUrl({ host: '127.0.0.1' }, 7878)).toBe('http://127.0.0.1:7878');
    expect(resolveInternalUrl({ host: '10.0.0.7' }, 80)).toBe('http://10.0.0.7:80');
    expect(resolveInternalUrl({ host: 'fd00::7' }, 7878)).toBe('http://[fd00::7]:7878');
    expect(resolveInternalUrl({ host: '0.0.0.0', internalUrl: 'http://10.0.0.7:7878' }, 1)).toBe(
      'http://10.0.0.7:7878',
    );
    for (const host of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) {
      const error = errorOf(() =>
        resolveInternalUrl({ host, databaseUrl: 'postgres://db.internal/loopgate' }, 7878),
      );
      expect(error.code).toBe('E_CONFIG_INTERNAL_URL');
      expect(error.message).toContain('--internal-url http://');
    }
    // On SQLite every server shares one file, so one machine: loopback reaches a wildcard bind.
    expect(resolveInternalUrl({ host: '0.0.0.0' }, 7878)).toBe('http://127.0.0.1:7878');
    expect(resolveInternalUrl({ host: '::' }, 7878)).toBe('http://[::1]:7878');
    const config = resolveConfig({}, { LOOPGATE_INTERNAL_URL: 'http://10.0.0.7:7878' });
    expect(config.internalUrl).toBe('http://10.0.0.7:7878');
    for (const bad of [
      'https://10.0.0.7:7878',
      'http://user:pw@10.0.0.7:7878',
      'http://10.0.0.7:7878/prefix',
      'http://10.0.0.7:7878/?x=1',
      'file:///etc/passwd',
      'not a url',
    ]) {
      const error = errorOf(() => resolveConfig({ internalUrl: bad }, {}));
      expect(error.code, bad).toBe('E_CONFIG_INVALID');
      expect(error.message).toMatch(/^--internal-url: expected http:\/\/host:port/);
    }
  });

  it('reads the agent key from --api-key-file, trimmed, and refuses a key given two ways', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopgate-config-'));
    const file = join(dir, 'key');
    writeFileSync(file, '  lg_from_a_file\n');
    expect(resolveConfig({}, { LOOPGATE_API_KEY_FILE: file }).apiKey).toBe('lg_from_a_file');
    expect(resolveConfig({}, { LOOPGATE_API_KEY: 'lg_from_env' }).apiKey).toBe('lg_from_env');
    expect(
      errorOf(() => resolveConfig({ apiKeyFile: file }, { LOOPGATE_API_KEY: 'lg_x' })),
    ).toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/one way only/) });
    expect(errorOf(() => resolveConfig({ apiKeyFile: join(dir, 'missing') }, {})).code).toBe(
      'E_CONFIG_API_KEY_FILE',
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a wrapped server the environment without loopgate’s own settings', () => {
    expect(
      environmentForDownstream({
        GITHUB_TOKEN: 'ghp_x',
        PATH: '/bin',
        LOOPGATE_API_KEY: 'lg_x',
        loopgate_signing_secret: 's',
      }),
    ).toEqual({ GITHUB_TOKEN: 'ghp_x', PATH: '/bin' });
  });
});

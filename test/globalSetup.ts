import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { findPostgresBinDir } from './support/postgres.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    chromePath: string;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the Chromium the browser tests drive: `CHROME_PATH`, else `/usr/bin/chromium`. On a
 * Debian machine run as root where it is missing, installs Debian's `chromium` package; anywhere
 * else it fails with the command to run, so no browser test is ever skipped silently.
 */
function findOrInstallChromium(): string {
  const fromEnv = process.env['CHROME_PATH'];
  if (fromEnv) {
    if (!isExecutable(fromEnv))
      throw new Error(`CHROME_PATH=${fromEnv} is not an executable file.`);
    return fromEnv;
  }
  const debianPath = '/usr/bin/chromium';
  if (isExecutable(debianPath)) return debianPath;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (existsSync('/etc/debian_version') && isRoot) {
    process.stderr.write('Chromium is missing: installing Debian\'s "chromium" package…\n');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (isExecutable(debianPath)) return debianPath;
  }
  throw new Error(
    'The browser tests need Chromium. Install it (Debian/Ubuntu: `sudo apt-get install chromium`; ' +
      'macOS: install Google Chrome) or set CHROME_PATH to a Chromium or Chrome executable.',
  );
}

/**
 * Makes sure the PostgreSQL server binaries are there for test/support/postgres.mjs: on a Debian
 * machine run as root where they are missing, installs Debian's `postgresql` package. Anywhere
 * else a missing PostgreSQL is left for the PostgreSQL tests to report (they fail, saying how
 * to install it), so the other tests still run.
 */
function installPostgresIfMissing(): void {
  if (findPostgresBinDir()) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!existsSync('/etc/debian_version') || !isRoot) return;
  process.stderr.write('PostgreSQL is missing: installing Debian\'s "postgresql" package…\n');
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'postgresql'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Installs the conformance suite's own folder (`test/conformance`: the official MCP conformance
 * suite and the Node 22 it runs on) when `npm install`'s postinstall has not, e.g. after
 * `npm install --ignore-scripts`. A failed install is left for the conformance test to report.
 */
function installConformanceSuiteIfMissing(): void {
  const dir = 'test/conformance';
  if (!existsSync(`${dir}/package-lock.json`)) return;
  if (existsSync(`${dir}/node_modules/@modelcontextprotocol/conformance/package.json`)) return;
  process.stderr.write('The MCP conformance suite is missing: npm ci --prefix test/conformance…\n');
  try {
    execFileSync('npm', ['ci', '--prefix', dir, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  } catch {
    // The conformance test names what is missing and how to install it.
  }
}

export default function setup(project: TestProject): void {
  project.provide('chromePath', findOrInstallChromium());
  installPostgresIfMissing();
  installConformanceSuiteIfMissing();
}

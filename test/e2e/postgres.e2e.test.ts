import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe } from '../support/cli.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.js';

let cluster: ThrowawayPostgres;
const dirs: string[] = [];
beforeAll(async () => {
  cluster = await startThrowawayPostgres();
});
afterAll(async () => {
  await cluster?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-pg-e2e-'));
  dirs.push(dir);
  return dir;
}

describe('loopgate on PostgreSQL (--database-url)', () => {
  it('`db migrate` applies the migrations once and says so, never showing the password', async () => {
    const url = await cluster.createDatabase();
    const first = await runCli(['db', 'migrate', '--database-url', url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+: applied 1 migration/,
    );
    const again = await runCli(['db', 'migrate'], { env: { LOOPGATE_DATABASE_URL: url } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/schema version 1 is current; no migration to apply/);
    for (const run of [first, again]) {
      expect(run.stdout + run.stderr).not.toContain(cluster.password);
    }
  });

  it('serves from PostgreSQL: /readyz answers, keys made by the CLI land in the shared database', async () => {
    const url = await cluster.createDatabase();
    const dir = dataDir();
    const env = { LOOPGATE_DATABASE_URL: url };
    const server = await startServe(dir, ['--database-url', url]);
    try {
      expect(server.output()).toMatch(/Database: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ok: true, schema_version: 1 });
      const created = await runCli(['keys', 'create', '--name', 'claude', '--data-dir', dir], {
        env,
      });
      expect(created.code, created.stderr).toBe(0);
      const key = created.stdout.trim();
      // The server reads the key from the database the CLI wrote it to.
      const response = await fetch(`${server.url}/v1/approvals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          action_description: 'Deploy to production',
          action_details: { service: 'api' },
        }),
      });
      expect(response.status, await response.clone().text()).toBe(201);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const rows = await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM approvals');
      await client.end();
      expect(Number(rows.rows[0]?.n)).toBe(1);
      const verify = await runCli(['audit', 'verify', '--data-dir', dir], { env });
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/INTACT: [1-9]\d* audit entries/);
      expect(server.output()).not.toContain(cluster.password);
    } finally {
      await server.stop();
    }
  });

  it('refuses a database it cannot sign in to, naming it without its password', async () => {
    const url = await cluster.createDatabase();
    const wrong = url.replace(cluster.password, 'Wrong-Secret-77');
    const run = await runCli(['db', 'migrate', '--database-url', wrong]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/E_STORE_UNREACHABLE: .*postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    expect(run.stderr).not.toContain('Wrong-Secret-77');
    const serve = await runCli([
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir(),
      '--database-url',
      wrong,
    ]);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/E_STORE_UNREACHABLE/);
    expect(serve.stderr).not.toContain('Wrong-Secret-77');
  });

  it('refuses a --database-url that is not postgres:// without echoing its password', async () => {
    const run = await runCli([
      'db',
      'migrate',
      '--database-url',
      'mysql://root:Hunter2-Secret@db/x',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/E_CONFIG_INVALID: --database-url: expected postgres:\/\//);
    expect(run.stderr).not.toContain('Hunter2-Secret');
  });
});

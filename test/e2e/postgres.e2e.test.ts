import { postgresMigrations } from '../../src/store/postgresMigrations.js';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileNames } from '../../src/crypto/signingKeys.js';
import { runCli, startServe } from '../support/cli.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/postgres.mjs';

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

/** The schema version a fully migrated database reports. */
const latest = postgresMigrations.length;

describe('loopgate on PostgreSQL (--database-url)', () => {
  it('`db migrate` applies the migrations once and says so, never showing the password', async () => {
    const url = await cluster.createDatabase();
    const first = await runCli(['db', 'migrate', '--database-url', url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(
        `postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/\\w+: applied ${latest} migrations? \\(1–${latest}\\); schema version ${latest}\\.`,
      ),
    );
    const again = await runCli(['db', 'migrate'], { env: { LOOPGATE_DATABASE_URL: url } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`schema version ${latest} is current; no migration to apply`);
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
      expect(await ready.json()).toEqual({ ok: true, schema_version: latest });
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

describe('loopgate db copy', () => {
  it('moves a SQLite data dir to PostgreSQL so that `audit verify` passes on the copy', async () => {
    const dir = dataDir();
    const server = await startServe(dir);
    let key: string;
    try {
      key = (await runCli(['keys', 'create', '--name', 'claude', '--data-dir', dir])).stdout.trim();
      for (let i = 0; i < 3; i += 1) {
        const created = await fetch(`${server.url}/v1/approvals`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ action_description: `Deploy ${i}`, action_details: { i } }),
        });
        expect(created.status).toBe(201);
      }
    } finally {
      await server.stop();
    }
    const before = await runCli(['audit', 'verify', '--data-dir', dir]);
    const count = /INTACT: (\d+) audit entries/.exec(before.stdout)?.[1];
    expect(count).toBeDefined();

    const url = await cluster.createDatabase();
    const copied = await runCli(['db', 'copy', '--to', url, '--data-dir', dir]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toMatch(
      new RegExp(
        `to postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/\\w+: 3 requests, 1 agent keys, .*${count} audit entries`,
      ),
    );
    expect(copied.stdout + copied.stderr).not.toContain(cluster.password);
    const after = await runCli(['audit', 'verify', '--data-dir', dir, '--database-url', url]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain(`INTACT: ${count} audit entries`);

    // A server on the copy knows the agent key and the requests.
    const onCopy = await startServe(dir, ['--database-url', url]);
    try {
      const listed = await fetch(`${onCopy.url}/v1/approvals`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(listed.status).toBe(200);
      expect(JSON.stringify(await listed.json())).toContain('Deploy 2');
    } finally {
      await onCopy.stop();
    }

    const again = await runCli(['db', 'copy', '--to', url, '--data-dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/E_STORE_COPY_TARGET_NOT_EMPTY/);
  });
});

describe('several servers on one database', () => {
  it('refuses to start a server whose keys differ from the deployment’s, and starts one with the same key files', async () => {
    const url = await cluster.createDatabase();
    const first = dataDir();
    const server = await startServe(first, ['--database-url', url]);
    const firstJwks: unknown = await (
      await fetch(`${server.url}/.well-known/loopgate/jwks.json`)
    ).json();
    await server.stop();

    const stranger = dataDir();
    const refused = await runCli([
      'serve',
      '--port',
      '0',
      '--data-dir',
      stranger,
      '--database-url',
      url,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /E_SERVER_KEYS_MISMATCH: .*receipt signing key.*HMAC signing secret.*TOTP encryption key.*postgres:\/\/postgres:\*\*\*@/,
    );
    expect(refused.stderr).not.toContain(cluster.password);
    // Nor does the CLI seal a TOTP secret with a key the servers do not hold.
    const enrol = await runCli(['totp', 'enroll', '--data-dir', stranger, '--database-url', url]);
    expect(enrol.code).toBe(1);
    expect(enrol.stderr).toMatch(/E_SERVER_KEYS_MISMATCH: .*TOTP encryption key/);

    // A second server given the first one's key files joins the deployment.
    const twin = dataDir();
    for (const name of Object.values(keyFileNames)) {
      copyFileSync(join(first, name), join(twin, name));
    }
    const second = await startServe(twin, ['--database-url', url]);
    try {
      const jwks: unknown = await (
        await fetch(`${second.url}/.well-known/loopgate/jwks.json`)
      ).json();
      expect(jwks).toEqual(firstJwks);
      expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    } finally {
      await second.stop();
    }
  });
});

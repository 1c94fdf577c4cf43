import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.mjs';
import {
  claimTaskPostgres,
  claimWebhookMessagePostgres,
  taskClaimsKeepUntilMigration,
  taskClaimsMigration,
} from './postgresClaims.js';

// The claims as two servers make them: two pools on one database, racing.

let cluster: ThrowawayPostgres;
let pools: pg.Pool[];
const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);

beforeAll(async () => {
  cluster = await startThrowawayPostgres();
  const url = await cluster.createDatabase();
  pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
  await pools[0]!.query(taskClaimsMigration);
  await pools[0]!.query(taskClaimsKeepUntilMigration);
  // The columns of postgresMigrations' webhook_messages that the claim reads and writes.
  await pools[0]!.query(`CREATE TABLE webhook_messages (
    msg_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at BIGINT,
    PRIMARY KEY (msg_id, endpoint_id)
  )`);
});

afterAll(async () => {
  for (const pool of pools ?? []) await pool.end();
  await cluster?.stop();
});

const either = (i: number) => pools[i % 2]!;

describe('PostgreSQL claims', () => {
  it('lets one of many concurrent task claims across two pools win, once and for good', async () => {
    const wins = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        claimTaskPostgres(either(i), 'notify:reminder:pa_1', t0, t0 + 3_600_000),
      ),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(
      await claimTaskPostgres(pools[1]!, 'notify:reminder:pa_1', t0 + 3_600_000, t0 + 3_600_000),
    ).toBe(false);
    expect(await claimTaskPostgres(pools[1]!, 'notify:fallback:pa_1', t0, t0 + 3_600_000)).toBe(
      true,
    );
  });

  it('lets one of many concurrent claims of a due webhook message win per attempt', async () => {
    await pools[0]!.query(
      `INSERT INTO webhook_messages VALUES ('msg_1', 'wh_1', 'pending', $1), ('msg_2', 'wh_1', 'delivered', $1)`,
      [t0],
    );
    expect(await claimWebhookMessagePostgres(pools[0]!, 'msg_1', 'wh_1', t0, t0 - 1, t0 + 1)).toBe(
      false,
    );
    const lease = t0 + 75_000;
    const wins = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        claimWebhookMessagePostgres(either(i), 'msg_1', 'wh_1', t0, t0, lease),
      ),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    const row = await pools[1]!.query<{ next: string }>(
      `SELECT next_attempt_at AS next FROM webhook_messages WHERE msg_id = 'msg_1'`,
    );
    expect(Number(row.rows[0]!.next)).toBe(lease);
    expect(
      await claimWebhookMessagePostgres(pools[1]!, 'msg_1', 'wh_1', lease, lease, lease + 1),
    ).toBe(true);
    expect(await claimWebhookMessagePostgres(pools[1]!, 'msg_2', 'wh_1', t0, t0, lease)).toBe(
      false,
    );
  });
});

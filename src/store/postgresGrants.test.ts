import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.mjs';
import {
  getGrantOfferPostgres,
  getGrantPostgres,
  grantsMigration,
  insertGrantPostgres,
  listGrantsPostgres,
  revokeGrantPostgres,
  saveGrantOfferPostgres,
  useGrantPostgres,
} from './postgresGrants.js';
import { grantRecord } from './testing/storeContract.js';

// The grant queries as two servers run them: two pools on one database, racing.

let cluster: ThrowawayPostgres;
let pools: pg.Pool[];
const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);

beforeAll(async () => {
  cluster = await startThrowawayPostgres();
  const url = await cluster.createDatabase();
  pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
  await pools[0]!.query(grantsMigration);
});

afterAll(async () => {
  for (const pool of pools ?? []) await pool.end();
  await cluster?.stop();
});

const either = (i: number) => pools[i % 2]!;

describe('PostgreSQL grants', () => {
  it('keeps offers and grants exactly as stored, and lists live ones', async () => {
    const offer = { reaches: ['once', 'tool'], maxMinutes: 60, maxUses: null, sessionId: null };
    await saveGrantOfferPostgres(either(0), 'pa_1', offer as never, t0);
    await saveGrantOfferPostgres(either(1), 'pa_1', { ...offer, maxMinutes: 1 } as never, t0);
    expect(await getGrantOfferPostgres(either(0), 'pa_1')).toEqual(offer);
    const g = grantRecord({ maxUses: 3 });
    await insertGrantPostgres(either(0), g);
    expect(await getGrantPostgres(either(1), g.id)).toEqual(g);
    expect(await listGrantsPostgres(either(0), { liveAt: t0, tool: g.tool, limit: 5 })).toEqual([
      g,
    ]);
    expect(await revokeGrantPostgres(either(1), g.id, 'bob', t0 + 1)).toBe(true);
    expect(await revokeGrantPostgres(either(0), g.id, 'bob', t0 + 2)).toBe(false);
    expect(await useGrantPostgres(either(0), g.id, t0 + 3)).toBe(false);
    expect(await listGrantsPostgres(either(0), { liveAt: t0, limit: 5 })).toEqual([]);
  });

  it('lets one of 20 concurrent uses of a max_uses=1 grant across two pools win', async () => {
    const g = grantRecord({ maxUses: 1 });
    await insertGrantPostgres(either(0), g);
    const wins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => useGrantPostgres(either(i), g.id, t0 + i)),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect((await getGrantPostgres(either(1), g.id))?.uses).toBe(1);
    expect(await useGrantPostgres(either(0), g.id, t0 + 1)).toBe(false);
  });
});

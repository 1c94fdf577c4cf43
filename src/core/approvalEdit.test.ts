import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeArgumentChanges, diffArguments, type ArgumentChange } from './approvalEdit.js';

/** The approval page's copy (web/assets/argumentEdit.js), loaded as the browser would load it. */
const webModuleUrl = pathToFileURL(
  fileURLToPath(new URL('../../web/assets/argumentEdit.js', import.meta.url)),
).href;

const pairs: [Record<string, unknown>, Record<string, unknown>][] = [
  [
    { amount: 500, payee: { iban: 'DE1', name: 'ACME' }, tags: ['a'], memo: 'x' },
    { amount: 50, payee: { iban: 'DE2', name: 'ACME' }, tags: ['a', 'b'], urgent: true },
  ],
  [
    { a: 1, b: { c: 2, d: 3 } },
    { b: { d: 3, c: 2 }, a: 1 },
  ],
  [{ amount: 500 }, { amount: '500' }],
  [
    { n: 0, z: null, o: {} },
    { n: -0, z: {}, o: null },
  ],
  [{ deep: { a: { b: [1, { c: 2 }] } } }, { deep: { a: { b: [1, { c: 3 }] } } }],
  [{ k: 'x\u200By' }, { k: 'xy', extra: { nested: 1 } }],
];

describe('diffArguments', () => {
  it('lists changed, added and removed arguments by path, nested objects key by key', () => {
    const changes = diffArguments(
      { amount: 500, payee: { iban: 'DE1', name: 'ACME' }, tags: ['a'], memo: 'x' },
      { amount: 50, payee: { iban: 'DE2', name: 'ACME' }, tags: ['a', 'b'], urgent: true },
    );
    expect(changes).toEqual([
      { path: 'amount', from: 500, to: 50 },
      { path: 'memo', from: 'x', to: undefined },
      { path: 'payee.iban', from: 'DE1', to: 'DE2' },
      { path: 'tags', from: ['a'], to: ['a', 'b'] },
      { path: 'urgent', from: undefined, to: true },
    ]);
    expect(describeArgumentChanges(changes)).toBe(
      'amount: 500 → 50; memo: "x" → (absent); payee.iban: "DE1" → "DE2"; tags: ["a"] → ["a","b"]; urgent: (absent) → true',
    );
  });

  it('finds no change when only key order differs, and tells "500" from 500', () => {
    expect(diffArguments({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 })).toEqual([]);
    expect(diffArguments({ amount: 500 }, { amount: '500' })).toEqual([
      { path: 'amount', from: 500, to: '500' },
    ]);
  });
});

describe('web/assets/argumentEdit.js', () => {
  it('shows the human exactly the changes the server binds and tells the agent', async () => {
    const web = (await import(webModuleUrl)) as {
      diffArguments(before: object, after: object): ArgumentChange[];
    };
    for (const [before, after] of pairs)
      expect(web.diffArguments(before, after), JSON.stringify([before, after])).toEqual(
        diffArguments(before, after),
      );
  });
});

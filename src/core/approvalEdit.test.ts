import { describe, expect, it } from 'vitest';
import { describeArgumentChanges, diffArguments } from './approvalEdit.js';

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

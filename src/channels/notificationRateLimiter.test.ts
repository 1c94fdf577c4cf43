import { describe, expect, it } from 'vitest';
import { NotificationRateLimiter } from './notificationRateLimiter.js';

function clock(start = Date.UTC(2026, 10, 20, 10)) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => void (now += ms),
    set: (ms: number) => void (now = ms),
  };
}

describe('NotificationRateLimiter', () => {
  it('lets 5 through per approver per minute and holds the rest for one digest', () => {
    const c = clock();
    const limiter = new NotificationRateLimiter({ now: c.now });
    const results = Array.from({ length: 8 }, (_, i) => limiter.admit('alice', `pa_${i}`));
    expect(results.slice(0, 5).every((r) => r.kind === 'send')).toBe(true);
    expect(results.slice(5)).toEqual([
      { kind: 'held', dueAt: c.now() + 60_000 },
      { kind: 'held', dueAt: c.now() + 60_000 },
      { kind: 'held', dueAt: c.now() + 60_000 },
    ]);
    expect(limiter.admit('bob', 'pa_b')).toEqual({ kind: 'send' });

    expect(limiter.takeDueDigests()).toEqual([]);
    c.advance(59_999);
    expect(limiter.takeDueDigests()).toEqual([]);
    c.advance(1);
    expect(limiter.takeDueDigests()).toEqual([
      { approver: 'alice', pauseIds: ['pa_5', 'pa_6', 'pa_7'] },
    ]);
    expect(limiter.heldCount('alice')).toBe(0);
    expect(limiter.nextDueAt()).toBeNull();
  });

  it('holds new requests behind a pending digest so the digest goes first', () => {
    const c = clock();
    const limiter = new NotificationRateLimiter({ now: c.now });
    for (let i = 0; i < 6; i++) limiter.admit('alice', `pa_${i}`);
    c.advance(61_000);
    expect(limiter.admit('alice', 'pa_new')).toMatchObject({ kind: 'held' });
    expect(limiter.takeDueDigests()).toEqual([{ approver: 'alice', pauseIds: ['pa_5', 'pa_new'] }]);
  });

  it('drops decided requests from the digest', () => {
    const c = clock();
    const limiter = new NotificationRateLimiter({ now: c.now });
    for (let i = 0; i < 7; i++) limiter.admit('alice', `pa_${i}`);
    limiter.discard('pa_5');
    c.advance(60_000);
    expect(limiter.takeDueDigests()).toEqual([{ approver: 'alice', pauseIds: ['pa_6'] }]);
    for (let i = 0; i < 5; i++) limiter.admit('bob', `pb_${i}`);
    limiter.admit('bob', 'pb_5');
    limiter.discard('pb_5');
    expect(limiter.nextDueAt()).toBeNull();
  });

  it('sends at most 5 notifications in any minute for 1,000 requests, losing none', () => {
    const c = clock();
    const limiter = new NotificationRateLimiter({ now: c.now });
    const start = c.now();
    const sentAt: number[] = [];
    const covered = new Set<string>();
    let digests = 0;
    const flush = () => {
      for (const d of limiter.takeDueDigests()) {
        sentAt.push(c.now());
        digests++;
        d.pauseIds.forEach((id) => covered.add(id));
      }
    };
    // 1,000 requests spread over one minute, with the digest timer firing when due.
    for (let i = 0; i < 1000; i++) {
      c.set(start + i * 60);
      const due = limiter.nextDueAt();
      if (due !== null && due <= c.now()) flush();
      const result = limiter.admit('alice', `pa_${i}`);
      if (result.kind === 'send') {
        sentAt.push(c.now());
        covered.add(`pa_${i}`);
      }
    }
    // Let the remaining digests go out.
    for (let due = limiter.nextDueAt(); due !== null; due = limiter.nextDueAt()) {
      c.set(due);
      flush();
    }
    expect(covered.size).toBe(1000);
    expect(digests).toBeGreaterThanOrEqual(1);
    for (const t of sentAt) {
      expect(sentAt.filter((s) => s > t - 60_000 && s <= t).length).toBeLessThanOrEqual(5);
    }
    expect(sentAt.filter((s) => s < start + 60_000).length).toBeLessThanOrEqual(5);
    expect(sentAt.length).toBeLessThanOrEqual(6);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new NotificationRateLimiter({ limit: 0 })).toThrow(RangeError);
    expect(() => new NotificationRateLimiter({ windowMs: 0 })).toThrow(RangeError);
  });
});

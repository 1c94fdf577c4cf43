import { describe, expect, it } from 'vitest';
import { nextRetryDelay, WEBHOOK_RETRY_WINDOW_MS } from './nextRetryDelay.js';

const noJitter = { random: () => 0.5 };

function schedule(options = noJitter): number[] {
  const delays: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const d = nextRetryDelay(attempt, options);
    if (d === null) return delays;
    delays.push(d);
  }
}

describe('nextRetryDelay', () => {
  it('backs off exponentially and stops 24 h after the first attempt', () => {
    const delays = schedule();
    expect(delays.slice(0, 7)).toEqual([
      5_000, 20_000, 80_000, 320_000, 1_280_000, 5_120_000, 20_480_000,
    ]);
    for (let i = 1; i < 7; i++) expect(delays[i]! / delays[i - 1]!).toBe(4);
    expect(Math.max(...delays)).toBeLessThanOrEqual(6 * 3600_000);
    expect(delays.reduce((a, b) => a + b, 0)).toBe(WEBHOOK_RETRY_WINDOW_MS);
    expect(delays).toHaveLength(10);
    expect(nextRetryDelay(11, noJitter)).toBeNull();
    expect(nextRetryDelay(500, noJitter)).toBeNull();
  });

  it('varies each delay by at most ±10 % with the injected jitter', () => {
    expect(nextRetryDelay(1, { random: () => 0 })).toBe(4_500);
    expect(nextRetryDelay(1, { random: () => 0.999999 })).toBe(5_500);
    const withJitter = schedule({ random: () => 0.9 });
    expect(withJitter[3]).toBe(Math.round(320_000 * 1.08));
    for (let i = 0; i < 200; i++) {
      const d = nextRetryDelay(2)!;
      expect(d).toBeGreaterThanOrEqual(18_000);
      expect(d).toBeLessThanOrEqual(22_000);
    }
  });

  it('refuses an attempt count below 1', () => {
    expect(() => nextRetryDelay(0)).toThrow(RangeError);
    expect(() => nextRetryDelay(1.5)).toThrow(RangeError);
  });
});

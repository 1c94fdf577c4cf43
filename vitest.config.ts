import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    // Bounds, not assertions: a test that is slow on a busy machine still passes; speed is
    // measured by `npm run bench`.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    expect: { poll: { timeout: 30_000 } },
    // Browser and multi-process tests share two cores; keep the pool small so timings stay sane.
    maxWorkers: 2,
    typecheck: { enabled: false },
  },
});

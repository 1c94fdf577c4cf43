import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Browser and multi-process tests share two cores; keep the pool small so timings stay sane.
    maxWorkers: 2,
    typecheck: { enabled: false },
  },
});

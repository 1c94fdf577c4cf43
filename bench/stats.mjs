/**
 * Summary statistics for latency samples.
 */

/**
 * The nearest-rank percentile of an ascending array (`p` in 0–100).
 * @param {number[]} sorted ascending sample values
 * @param {number} p percentile, 0–100
 * @returns {number}
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Rounds to 2 decimals (hundredths of a millisecond). */
export function round2(value) {
  return Math.round(value * 100) / 100;
}

/**
 * `{count, min_ms, p50_ms, p95_ms, p99_ms, max_ms, mean_ms}` of samples in milliseconds.
 * @param {number[]} samples milliseconds
 */
export function summarizeMs(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length);
  return {
    count: sorted.length,
    min_ms: round2(sorted[0] ?? Number.NaN),
    p50_ms: round2(percentile(sorted, 50)),
    p95_ms: round2(percentile(sorted, 95)),
    p99_ms: round2(percentile(sorted, 99)),
    max_ms: round2(sorted[sorted.length - 1] ?? Number.NaN),
    mean_ms: round2(mean),
  };
}

/** The median of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

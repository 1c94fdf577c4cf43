import type { Validation } from './errors.js';

/** How deeply a JSON value loopgate accepts may nest (objects and arrays). */
export const maxJsonDepth = 64;

/**
 * Checks that a parsed JSON value can be hashed and stored: nested at most
 * {@link maxJsonDepth} levels, every number finite. `JSON.parse` turns `1e400` into `Infinity`,
 * which RFC 8785 canonical JSON cannot represent (§3.2.2.3), and very deep nesting would
 * overflow the stack of the recursive canonicaliser. Walks iteratively, so the check itself
 * cannot overflow.
 *
 * @returns the value unchanged, or `E_JSON_UNSUPPORTED` naming the path at fault.
 */
export function checkJsonLimits<T>(value: T): Validation<T> {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'number' && !Number.isFinite(item.value)) {
      return {
        ok: false,
        code: 'E_JSON_UNSUPPORTED',
        message: `${item.path || 'the body'} is a number outside the double range (like 1e400); send it as a string.`,
      };
    }
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.depth >= maxJsonDepth) {
      return {
        ok: false,
        code: 'E_JSON_UNSUPPORTED',
        message: `The JSON nests deeper than ${maxJsonDepth} levels (at ${item.path.slice(0, 200)}…).`,
      };
    }
    const entries = Array.isArray(item.value)
      ? item.value.map((v, i) => [String(i), v] as const)
      : Object.entries(item.value as Record<string, unknown>);
    for (const [key, child] of entries) {
      stack.push({
        value: child,
        path: `${item.path}${item.path ? '.' : ''}${key}`,
        depth: item.depth + 1,
      });
    }
  }
  return { ok: true, value };
}

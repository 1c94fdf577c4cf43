import { canonicalizeJson } from './canonicalJson.js';
import type { Validation } from './errors.js';

/**
 * What a gated tool call may hold so that its approval page can show every argument and every
 * character in full. A larger call is refused (`E_GATEWAY_CALL_TOO_LARGE`) before any approval
 * exists; nothing is ever cut short for display while the action hash covers more.
 */
export const toolCallLimits = {
  /** Top-level arguments. */
  maxArguments: 100,
  /** UTF-8 bytes of the RFC 8785 canonical JSON of `{tool, arguments}`. */
  maxCanonicalBytes: 65_536,
  /** Objects/arrays nested inside one argument value (`{"a": {"b": 1}}` is 2). */
  maxDepth: 8,
} as const;

/** How deeply objects and arrays nest in `value`; a scalar is 0. Stops counting past `limit`. */
function nestingDepth(value: unknown, limit: number): number {
  if (value === null || typeof value !== 'object') return 0;
  let deepest = 0;
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, nestingDepth(child, limit));
    if (deepest > limit) break;
  }
  return deepest + 1;
}

/**
 * Checks a gated call against {@link toolCallLimits}.
 * @returns `{ok: true, value: canonicalJson}` or `E_GATEWAY_CALL_TOO_LARGE` naming the limit,
 *   or `E_APPROVAL_INPUT_INVALID` when the arguments are not representable as JSON.
 */
export function checkToolCallLimits(call: {
  tool: string;
  arguments: Record<string, unknown>;
}): Validation<string> {
  const count = Object.keys(call.arguments).length;
  if (count > toolCallLimits.maxArguments) {
    return {
      ok: false,
      code: 'E_GATEWAY_CALL_TOO_LARGE',
      message: `${call.tool} was called with ${count} arguments; a gated call may have at most ${toolCallLimits.maxArguments}, so that the human sees every one. Nothing was asked or forwarded.`,
    };
  }
  for (const [name, value] of Object.entries(call.arguments)) {
    const depth = nestingDepth(value, toolCallLimits.maxDepth);
    if (depth > toolCallLimits.maxDepth) {
      return {
        ok: false,
        code: 'E_GATEWAY_CALL_TOO_LARGE',
        message: `The argument ${JSON.stringify(name.slice(0, 100))} of ${call.tool} nests objects or arrays more than ${toolCallLimits.maxDepth} deep; a gated call may nest at most ${toolCallLimits.maxDepth}. Nothing was asked or forwarded.`,
      };
    }
  }
  let canonical: string;
  try {
    canonical = canonicalizeJson({ tool: call.tool, arguments: call.arguments });
  } catch (err) {
    return {
      ok: false,
      code: 'E_APPROVAL_INPUT_INVALID',
      message: `The arguments of ${call.tool} are not representable as JSON (${(err as Error).message}).`,
    };
  }
  const bytes = new TextEncoder().encode(canonical).length;
  if (bytes > toolCallLimits.maxCanonicalBytes) {
    return {
      ok: false,
      code: 'E_GATEWAY_CALL_TOO_LARGE',
      message: `${call.tool} was called with ${bytes} bytes of canonical JSON; a gated call may have at most ${toolCallLimits.maxCanonicalBytes}, so that the human sees every character. Nothing was asked or forwarded.`,
    };
  }
  return { ok: true, value: canonical };
}

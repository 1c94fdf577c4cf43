/**
 * Edit before approve: a human may change a gated call's arguments and approve the edited call.
 * What the gateway sends so the server can check an edit, what an edit records, and the list of
 * changes shown to the human and told to the agent.
 */

/**
 * What the server needs to check edited arguments of a gated call, sent by the gateway with the
 * approval request: the wrapped tool's JSON Schema (`inputSchema` from `tools/list`) and the
 * gateway's policy (its YAML text and file name) with the call's context, so the edited call is
 * validated and the policy applied to it again. A request without them cannot be edited.
 */
export interface EditConstraints {
  inputSchema: Record<string, unknown>;
  policyText: string;
  policySource: string;
  /** The agent the gateway acts for (`agent:` rules), or null. */
  agent: { name: string; keyId: string | null } | null;
  /** The tool's `readOnlyHint` (`read_only:` rules). */
  readOnly: boolean;
}

/** One changed argument: its path (`amount`, `payee.iban`) and the values before and after. */
export interface ArgumentChange {
  path: string;
  from: unknown;
  to: unknown;
}

/**
 * What an approval with edited arguments records: the action hash and arguments the agent
 * asked for, and what the human changed. The request's own `actionHash`/`actionDetails` are then
 * those of the edited call, which the receipt binds.
 */
export interface ApprovalEdit {
  originalActionHash: string;
  originalArguments: Record<string, unknown>;
  changes: ArgumentChange[];
}

/** Limits on the constraints a gateway may send (bytes of JSON / characters). */
export const editLimits = { maxSchemaBytes: 64_000, maxPolicyChars: 64_000 } as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameJson(a: unknown, b: unknown): boolean {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      if (!(key in a) || !(key in b) || !sameJson(a[key], b[key])) return false;
    }
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  return Object.is(a, b) || (a === 0 && b === 0);
}

/**
 * The changes from `before` to `after`, nested objects walked key by key (paths joined with
 * dots, sorted), arrays and other values compared whole. A key only on one side is a change
 * whose missing side is `undefined` (serialised as absent). Empty when both are the same JSON.
 */
export function diffArguments(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  prefix = '',
): ArgumentChange[] {
  const changes: ArgumentChange[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const key of keys) {
    const path = prefix ? `${prefix}.${key}` : key;
    const from = before[key];
    const to = after[key];
    if (isPlainObject(from) && isPlainObject(to)) changes.push(...diffArguments(from, to, path));
    else if (!(key in before) || !(key in after) || !sameJson(from, to))
      changes.push({ path, from, to });
  }
  return changes;
}

/** `amount: 500 → 50; note: (absent) → "x"`, values as JSON, for the agent's result text. */
export function describeArgumentChanges(
  changes: readonly { path: string; from?: unknown; to?: unknown }[],
): string {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  return changes.map((c) => `${c.path}: ${show(c.from)} → ${show(c.to)}`).join('; ');
}

import type { Gate, Policy, PolicyCondition, PolicyQuorum, PolicyRule } from './policy.js';

/**
 * Which gate a tool call must pass, and why. `rule` and `ruleIndex` (0-based) name the rule
 * that matched, or are null when the policy's `default` applied.
 */
export type GateDecision = {
  gate: Gate;
  rule: PolicyRule | null;
  ruleIndex: number | null;
  /** Present exactly when `gate` is `quorum`. */
  quorum?: PolicyQuorum;
  /** How long the approval stays open, in minutes. */
  timeoutMinutes: number;
  /**
   * Present when the gate is `deny` because a condition of the matching rule could not be
   * evaluated on the arguments given (e.g. `amount: "5,000"` against `gt: 1000`).
   */
  reason?: string;
};

type ConditionResult = { kind: 'met' } | { kind: 'not_met' } | { kind: 'unknown'; reason: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A path that can be read two ways: a flat key with dots in it, and nested objects. */
const ambiguous = Symbol('ambiguous');

/**
 * Every value `segments[from..]` reaches inside `value`, up to two (two are enough to know
 * the path is ambiguous). At each level the next key may be one segment or several joined by
 * dots (an argument may have a dot in its name); array items are read by index. Only own
 * properties count, so `constructor` or `__proto__` never reach a prototype.
 */
function collectReadings(
  value: unknown,
  segments: readonly string[],
  from: number,
  found: unknown[],
): void {
  if (found.length >= 2) return;
  if (from === segments.length) {
    found.push(value);
    return;
  }
  if (Array.isArray(value)) {
    const segment = segments[from]!;
    if (/^(0|[1-9][0-9]*)$/.test(segment) && Number(segment) < value.length) {
      collectReadings(value[Number(segment)], segments, from + 1, found);
    }
    return;
  }
  if (!isPlainObject(value)) return;
  for (let to = from + 1; to <= segments.length && found.length < 2; to++) {
    const key = segments.slice(from, to).join('.');
    if (Object.hasOwn(value, key)) collectReadings(value[key], segments, to, found);
  }
}

/**
 * The argument a condition names, read by its dotted path (`payee.iban`) through nested
 * objects and array indices, where any run of segments may also be one key with dots in its
 * name (`{"payee.iban": …}`). `undefined` when nothing is there; {@link ambiguous} when the
 * path reaches two places (`{"payee.iban": "A", "payee": {"iban": "B"}}`): the policy cannot
 * know which one the tool will read, so such a condition is unknown and the call denied.
 */
function readArgument(args: unknown, condition: PolicyCondition): unknown {
  const found: unknown[] = [];
  collectReadings(args, condition.segments, 0, found);
  if (found.length > 1) return ambiguous;
  return found[0];
}

const numericString = /^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$/;

/** A number, or a string that is a plain decimal number (agents often send `"1500"`). */
function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && numericString.test(value)) return Number(value);
  return null;
}

function equals(value: unknown, operand: string | number | boolean | null): boolean {
  if (typeof operand === 'number') return toNumber(value) === operand;
  if (typeof operand === 'string') {
    const scalar =
      typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
    return scalar && String(value) === operand;
  }
  return value === operand;
}

function describeValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  const kind = Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value;
  return `${text.length > 40 ? `${text.slice(0, 37)}…` : text} (${kind})`;
}

/**
 * One condition on the arguments. A missing (or null) argument does not meet any operator
 * but `eq: null`/`ne: null`; a value that cannot be compared at all is `unknown`.
 */
function checkCondition(condition: PolicyCondition, args: unknown): ConditionResult {
  const value = readArgument(args, condition);
  const met = (yes: boolean): ConditionResult => (yes ? { kind: 'met' } : { kind: 'not_met' });
  if (value === ambiguous) {
    return {
      kind: 'unknown',
      reason: `argument ${condition.path} can be read two ways (a key named "${condition.path}" with dots, and nested objects); send it once, in one form`,
    };
  }
  if (value === undefined) return { kind: 'not_met' };
  switch (condition.operator) {
    case 'eq':
      return met(equals(value, condition.value));
    case 'ne':
      return met(!equals(value, condition.value));
    case 'matches': {
      if (value === null) return { kind: 'not_met' };
      if (typeof value === 'object') {
        return {
          kind: 'unknown',
          reason: `argument ${condition.path} is ${describeValue(value)}, which cannot be matched against /${condition.value}/`,
        };
      }
      return met(condition.regex.test(String(value)));
    }
    default: {
      if (value === null) return { kind: 'not_met' };
      const number = toNumber(value);
      if (number === null) {
        return {
          kind: 'unknown',
          reason: `argument ${condition.path} is ${describeValue(value)}, which cannot be compared as a number (${condition.operator} ${condition.value})`,
        };
      }
      const operand = condition.value;
      if (condition.operator === 'gt') return met(number > operand);
      if (condition.operator === 'gte') return met(number >= operand);
      if (condition.operator === 'lt') return met(number < operand);
      return met(number <= operand);
    }
  }
}

/** All conditions, with Kleene's three-valued AND: one `not_met` wins over any `unknown`. */
function checkConditions(conditions: PolicyCondition[], args: unknown): ConditionResult {
  let unknown: ConditionResult | null = null;
  for (const condition of conditions) {
    const result = checkCondition(condition, args);
    if (result.kind === 'not_met') return result;
    if (result.kind === 'unknown' && unknown === null) unknown = result;
  }
  return unknown ?? { kind: 'met' };
}

function decideByRule(rule: PolicyRule, ruleIndex: number): GateDecision {
  const decision: GateDecision = {
    gate: rule.gate,
    rule,
    ruleIndex,
    timeoutMinutes: rule.timeoutMinutes,
  };
  if (rule.quorum) decision.quorum = rule.quorum;
  return decision;
}

function decideByDefault(policy: Policy): GateDecision {
  return {
    gate: policy.defaultGate,
    rule: null,
    ruleIndex: null,
    timeoutMinutes: policy.timeoutMinutes,
  };
}

/**
 * Decides which gate a call of `tool` with `args` must pass: the first rule whose glob
 * matches the tool name and whose `when:` conditions all hold; the policy's `default` when
 * none does.
 *
 * Conditions read arguments by name or dotted path (`payee.iban`); a path that reaches two
 * values (a flat `"payee.iban"` key beside a nested `payee.iban`) is unknown, so denied. A
 * missing argument does not meet a condition. Numbers given as strings (`"1500"`) compare as numbers. When a rule's
 * conditions cannot be evaluated — a `gt` against `"5,000"`, a `matches` against an object —
 * the call is denied with a `reason` rather than guessed at: the gateway fails closed, and the
 * agent can retry with a well-typed argument.
 *
 * @param args the call's arguments (any JSON; non-objects behave as no arguments).
 */
export function evaluatePolicy(policy: Policy, tool: string, args: unknown): GateDecision {
  for (const [index, rule] of policy.rules.entries()) {
    if (!rule.toolPattern.test(tool)) continue;
    const result = checkConditions(rule.when, args);
    if (result.kind === 'met') return decideByRule(rule, index);
    if (result.kind === 'unknown') {
      return {
        gate: 'deny',
        rule,
        ruleIndex: index,
        timeoutMinutes: rule.timeoutMinutes,
        reason: result.reason,
      };
    }
  }
  return decideByDefault(policy);
}

/**
 * Every gate a call of `tool` might meet, in rule order, without arguments: the rules whose
 * glob matches up to and including the first without `when:`, then `default` if no such rule
 * ends the list. For `tools/list` (what to tell the agent; whether `otp_argument` adds an
 * `otp` argument to the tool's input schema).
 */
export function listToolGates(policy: Policy, tool: string): GateDecision[] {
  const decisions: GateDecision[] = [];
  for (const [index, rule] of policy.rules.entries()) {
    if (!rule.toolPattern.test(tool)) continue;
    decisions.push(decideByRule(rule, index));
    if (rule.when.length === 0) return decisions;
  }
  decisions.push(decideByDefault(policy));
  return decisions;
}

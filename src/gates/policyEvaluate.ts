import type {
  CallContext,
  Gate,
  Policy,
  PolicyCondition,
  PolicyMode,
  PolicyQuorum,
  PolicyRule,
} from './policy.js';

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
   * `shadow` when the rule (or, for `default` and rules without `mode:`, the policy) is in
   * shadow mode: the gateway forwards the call and records what `gate` would have asked.
   */
  mode: PolicyMode;
  /**
   * Present when the gate is `deny` because a condition of the matching rule could not be
   * evaluated on the arguments given (e.g. `amount: "5,000"` against `gt: 1000`).
   */
  reason?: string;
};

type ConditionResult =
  | { kind: 'met' }
  | { kind: 'not_met'; condition?: PolicyCondition }
  | { kind: 'unknown'; reason: string };

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
    if (result.kind === 'not_met') return { kind: 'not_met', condition };
    if (result.kind === 'unknown' && unknown === null) unknown = result;
  }
  return unknown ?? { kind: 'met' };
}

function decideByRule(policy: Policy, rule: PolicyRule, ruleIndex: number): GateDecision {
  const decision: GateDecision = {
    gate: rule.gate,
    rule,
    ruleIndex,
    timeoutMinutes: rule.timeoutMinutes,
    mode: rule.mode ?? policy.mode,
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
    mode: policy.mode,
  };
}

/** Why a rule did or did not apply to a call (see {@link explainPolicy}). */
export type RuleCheck =
  | { kind: 'matched' }
  | { kind: 'skipped'; on: 'tool' | 'agent' | 'read_only' }
  | { kind: 'skipped'; on: 'when'; condition: PolicyCondition | null }
  | { kind: 'unknown'; reason: string };

function matchesAgent(rule: PolicyRule, context: CallContext): boolean {
  if (rule.agents === null) return true;
  const agent = context.agent;
  if (!agent) return false;
  return rule.agentPatterns.some(
    (pattern) => pattern.test(agent.name) || (agent.keyId !== null && pattern.test(agent.keyId)),
  );
}

/** What does not depend on the arguments: the tool glob, `agent:` and `read_only:`. */
function checkRuleScope(rule: PolicyRule, tool: string, context: CallContext): RuleCheck {
  if (!rule.toolPattern.test(tool)) return { kind: 'skipped', on: 'tool' };
  if (!matchesAgent(rule, context)) return { kind: 'skipped', on: 'agent' };
  if (rule.readOnly !== null && rule.readOnly !== (context.readOnly === true))
    return { kind: 'skipped', on: 'read_only' };
  return { kind: 'matched' };
}

function checkRule(rule: PolicyRule, tool: string, args: unknown, context: CallContext): RuleCheck {
  const scope = checkRuleScope(rule, tool, context);
  if (scope.kind !== 'matched') return scope;
  const result = checkConditions(rule.when, args);
  if (result.kind === 'met') return { kind: 'matched' };
  if (result.kind === 'unknown') return result;
  return { kind: 'skipped', on: 'when', condition: result.condition ?? null };
}

function decideByUnknown(
  policy: Policy,
  rule: PolicyRule,
  ruleIndex: number,
  reason: string,
): GateDecision {
  return {
    gate: 'deny',
    rule,
    ruleIndex,
    timeoutMinutes: rule.timeoutMinutes,
    mode: rule.mode ?? policy.mode,
    reason,
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
 * A rule with `agent:` applies only when `context.agent`'s name or key id matches one of its
 * globs; a rule with `read_only:` only when `context.readOnly` (the wrapped tool's
 * `readOnlyHint`) equals it.
 *
 * @param args the call's arguments (any JSON; non-objects behave as no arguments).
 * @param context who calls and what the wrapped server says of the tool.
 */
export function evaluatePolicy(
  policy: Policy,
  tool: string,
  args: unknown,
  context: CallContext = {},
): GateDecision {
  for (const [index, rule] of policy.rules.entries()) {
    const check = checkRule(rule, tool, args, context);
    if (check.kind === 'matched') return decideByRule(policy, rule, index);
    if (check.kind === 'unknown') return decideByUnknown(policy, rule, index, check.reason);
  }
  return decideByDefault(policy);
}

/** {@link evaluatePolicy}'s answer and, for every rule it tried, why it applied or not. */
export type PolicyExplanation = {
  decision: GateDecision;
  /** The rules tried, in order, up to and including the one that decided. */
  checks: { rule: PolicyRule; ruleIndex: number; check: RuleCheck }[];
};

/**
 * {@link evaluatePolicy} with its reasons, for `loopgate policy test`: the same decision, plus
 * each rule tried and whether its tool glob, `agent:`, `read_only:` or `when:` kept it out.
 */
export function explainPolicy(
  policy: Policy,
  tool: string,
  args: unknown,
  context: CallContext = {},
): PolicyExplanation {
  const checks: PolicyExplanation['checks'] = [];
  for (const [index, rule] of policy.rules.entries()) {
    const check = checkRule(rule, tool, args, context);
    checks.push({ rule, ruleIndex: index, check });
    if (check.kind === 'matched') return { decision: decideByRule(policy, rule, index), checks };
    if (check.kind === 'unknown')
      return { decision: decideByUnknown(policy, rule, index, check.reason), checks };
  }
  return { decision: decideByDefault(policy), checks };
}

/**
 * Every gate a call of `tool` might meet, in rule order, without arguments: the rules whose
 * glob (and `agent:`, `read_only:`) matches up to and including the first without `when:`,
 * then `default` if no such rule ends the list. For `tools/list` (what to tell the agent;
 * whether `otp_argument` adds an `otp` argument to the tool's input schema).
 */
export function listToolGates(
  policy: Policy,
  tool: string,
  context: CallContext = {},
): GateDecision[] {
  const decisions: GateDecision[] = [];
  for (const [index, rule] of policy.rules.entries()) {
    if (checkRuleScope(rule, tool, context).kind !== 'matched') continue;
    decisions.push(decideByRule(policy, rule, index));
    if (rule.when.length === 0) return decisions;
  }
  decisions.push(decideByDefault(policy));
  return decisions;
}

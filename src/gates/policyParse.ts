import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { LoopgateError, type Validation } from '../core/errors.js';
import {
  compileToolGlob,
  defaultGates,
  defaultTimeoutMinutes,
  gates,
  maxGrantMinutes,
  maxTimeoutMinutes,
  policyModes,
  type ConditionOperator,
  type Policy,
  type PolicyCondition,
  type PolicyRule,
} from './policy.js';

const operators = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'matches',
] as const satisfies readonly ConditionOperator[];
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const timeoutMinutes = z.number().int().min(1).max(maxTimeoutMinutes);

const conditionSchema = z
  .strictObject({
    eq: scalar.optional(),
    ne: scalar.optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
    matches: z.string().optional(),
  })
  .superRefine((condition, ctx) => {
    if (condition.matches !== undefined) {
      const error = compileRegexError(condition.matches);
      if (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['matches'],
          message: `must be a regular expression (${error})`,
        });
      }
    }
  });

// Cross-field checks run even when a sibling field has already failed (`when: always`), so a
// file with several mistakes gets them all in one message; they read the input defensively.
const always = { when: () => true };

const conditionValueSchema = z.unknown().superRefine((condition, ctx) => {
  if (isPlainObject(condition) && Object.keys(condition).length === 0) {
    ctx.addIssue({ code: 'custom', message: `must name at least one of ${operators.join('|')}` });
  } else if (isPlainObject(condition)) {
    const result = conditionSchema.safeParse(condition, { reportInput: true });
    for (const issue of result.error?.issues ?? [])
      ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
  } else if (!scalar.safeParse(condition).success) {
    ctx.addIssue({
      code: 'custom',
      input: condition,
      message: `must be a value to equal or a mapping of ${operators.join('|')}`,
    });
  }
});

const quorumSchema = z
  .strictObject({
    n: z.number().int().min(1),
    approvers: z.array(z.string().min(1)).min(1),
    step_up: z.enum(['none', 'totp', 'webauthn']).optional(),
  })
  .superRefine((value: unknown, ctx) => {
    if (!isPlainObject(value) || !Array.isArray(value.approvers)) return;
    const approvers: unknown[] = value.approvers;
    if (typeof value.n === 'number' && value.n > approvers.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['n'],
        input: value.n,
        message: `must be at most the number of approvers listed (${approvers.length})`,
      });
    }
    const seen = new Set<unknown>();
    approvers.forEach((name, index) => {
      if (seen.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvers', index],
          input: name,
          message: 'must name each approver once',
        });
      }
      seen.add(name);
    });
  }, always);

const grantsSchema = z.strictObject({
  max_minutes: z.number().int().min(1).max(maxGrantMinutes),
  exact: z.boolean().optional(),
  patterns: z.boolean().optional(),
  session: z.boolean().optional(),
  max_uses: z.number().int().min(1).optional(),
});

/** The gates whose approvals may become standing grants. */
const grantableGates = ['approve', 'totp', 'webauthn'];

const ruleSchema = z
  .strictObject({
    tool: z.string().min(1),
    agent: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    read_only: z.boolean().optional(),
    when: z.record(z.string().min(1), conditionValueSchema).optional(),
    gate: z.enum(gates),
    mode: z.enum(policyModes).optional(),
    quorum: quorumSchema.optional(),
    timeout_minutes: timeoutMinutes.optional(),
    grants: grantsSchema.optional(),
  })
  .superRefine((rule: unknown, ctx) => {
    if (
      isPlainObject(rule) &&
      rule.grants !== undefined &&
      typeof rule.gate === 'string' &&
      !grantableGates.includes(rule.gate)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['grants'],
        message: `is only allowed with gate: ${grantableGates.join('|')} (got gate: ${rule.gate})`,
      });
    }
    if (isPlainObject(rule) && isPlainObject(rule.grants)) {
      const g = rule.grants;
      if (g.exact === false && g.patterns !== true && g.session !== true) {
        ctx.addIssue({
          code: 'custom',
          path: ['grants'],
          message:
            'offers nothing beyond once; set exact, patterns or session to true, or drop grants:',
        });
      }
    }
    if (!isPlainObject(rule) || typeof rule.gate !== 'string') return;
    if (rule.gate === 'quorum' && rule.quorum === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: 'is required when gate is quorum (e.g. quorum: { n: 2, approvers: [alice, bob] })',
      });
    }
    if (rule.gate !== 'quorum' && rule.quorum !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: `is only allowed with gate: quorum (got gate: ${rule.gate})`,
      });
    }
  }, always);

/** The policy file as written (snake_case), before compiling. */
const policyFileSchema = z.strictObject({
  default: z.enum(defaultGates),
  mode: z.enum(policyModes).optional(),
  rules: z.array(ruleSchema).optional(),
  timeout_minutes: timeoutMinutes.optional(),
});

type PolicyFile = z.infer<typeof policyFileSchema>;
type Issue = z.core.$ZodIssue;
type PathKey = string | number;

const allowedKeys = {
  policy: ['default', 'mode', 'rules', 'timeout_minutes'],
  rule: [
    'tool',
    'agent',
    'read_only',
    'when',
    'gate',
    'mode',
    'quorum',
    'timeout_minutes',
    'grants',
  ],
  quorum: ['n', 'approvers', 'step_up'],
  grants: ['max_minutes', 'exact', 'patterns', 'session', 'max_uses'],
  condition: operators,
} as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compileRegexError(pattern: string): string | null {
  try {
    new RegExp(pattern, 'u');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function formatPath(path: readonly PathKey[]): string {
  if (path.length === 0) return 'the policy';
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text;
}

function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

const typeNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

function keysAllowedAt(path: readonly PathKey[]): readonly string[] {
  if (path.length === 0) return allowedKeys.policy;
  if (path.length === 2 && path[0] === 'rules') return allowedKeys.rule;
  if (path.at(-1) === 'quorum') return allowedKeys.quorum;
  if (path.at(-1) === 'grants') return allowedKeys.grants;
  return allowedKeys.condition;
}

/** What one zod issue means, in the words of the policy file. */
function describeIssue(issue: Issue, path: readonly PathKey[], input: unknown): string {
  const label = formatPath(path);
  switch (issue.code) {
    case 'invalid_type': {
      if (path.length === 0 && (input === null || input === undefined)) {
        return 'the file is empty; expected a mapping with default and rules';
      }
      const expected =
        path.length === 0
          ? 'a mapping with default and rules'
          : (typeNames[issue.expected] ?? issue.expected);
      return input === undefined
        ? `${label} is required (${expected})`
        : `${label} must be ${expected} (got ${show(input)})`;
    }
    case 'invalid_value': {
      const values = issue.values.map(String).join('|');
      return input === undefined
        ? `${label} is required (one of ${values})`
        : `${label} must be one of ${values} (got ${show(input)})`;
    }
    case 'invalid_union':
      if (path.at(-1) === 'agent')
        return `${label} must be an agent name or a list of agent names (got ${show(input)})`;
      // The only other union in the schema is the scalar operand of eq and ne.
      return `${label} must be a string, a number, true, false or null (got ${show(input)})`;
    case 'too_small':
      if (issue.origin === 'string') return `${label} must not be empty`;
      if (issue.origin === 'array') return `${label} must list at least ${String(issue.minimum)}`;
      return `${label} must be at least ${String(issue.minimum)} (got ${show(input)})`;
    case 'too_big':
      return `${label} must be at most ${String(issue.maximum)} (got ${show(input)})`;
    case 'unrecognized_keys':
      return `${label === 'the policy' ? 'the policy has' : `${label} has`} unknown key ${issue.keys
        .map((k) => JSON.stringify(k))
        .join(', ')} (expected ${keysAllowedAt(path).join('|')})`;
    case 'custom': {
      const got = input !== undefined && !isPlainObject(input) ? ` (got ${show(input)})` : '';
      return `${label} ${issue.message}${issue.message.includes('(got') ? '' : got}`;
    }
    default:
      return `${label}: ${issue.message}`;
  }
}

function valueAt(root: unknown, path: readonly PathKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (Array.isArray(value) && typeof key === 'number') value = value[key];
    else if (isPlainObject(value) && typeof key === 'string' && Object.hasOwn(value, key))
      value = value[key];
    else return undefined;
  }
  return value;
}

/** The 1-based line of the node at `path`, or of its nearest ancestor that exists. */
function lineAt(doc: Document, lines: LineCounter, path: readonly PathKey[], key?: string): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (key !== undefined && depth === path.length && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (pair && isScalar(pair.key) && pair.key.range)
        return lines.linePos(pair.key.range[0]).line;
    }
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return 1;
}

function compileCondition(path: string, raw: unknown): PolicyCondition[] {
  const segments = path.split('.');
  if (!isPlainObject(raw)) {
    return [{ path, segments, operator: 'eq', value: raw as string | number | boolean | null }];
  }
  const conditions: PolicyCondition[] = [];
  for (const operator of operators) {
    const value = raw[operator];
    if (value === undefined) continue;
    if (operator === 'matches') {
      conditions.push({
        path,
        segments,
        operator,
        value: value as string,
        regex: new RegExp(value as string, 'u'),
      });
    } else if (operator === 'eq' || operator === 'ne') {
      conditions.push({
        path,
        segments,
        operator,
        value: value as string | number | boolean | null,
      });
    } else {
      conditions.push({ path, segments, operator, value: value as number });
    }
  }
  return conditions;
}

function compilePolicy(
  file: PolicyFile,
  source: string,
  lineOf: (index: number) => number | null,
): Policy {
  const timeout = file.timeout_minutes ?? defaultTimeoutMinutes;
  const rules: PolicyRule[] = (file.rules ?? []).map((rule, index) => {
    const agents =
      rule.agent === undefined ? null : typeof rule.agent === 'string' ? [rule.agent] : rule.agent;
    return {
      tool: rule.tool,
      toolPattern: compileToolGlob(rule.tool),
      agents: agents ? [...agents] : null,
      agentPatterns: (agents ?? []).map(compileToolGlob),
      readOnly: rule.read_only ?? null,
      mode: rule.mode ?? null,
      when: Object.entries(rule.when ?? {}).flatMap(([path, raw]) => compileCondition(path, raw)),
      gate: rule.gate,
      quorum: rule.quorum
        ? {
            n: rule.quorum.n,
            approvers: [...rule.quorum.approvers],
            stepUp: rule.quorum.step_up ?? 'none',
          }
        : null,
      timeoutMinutes: rule.timeout_minutes ?? timeout,
      grants: rule.grants
        ? {
            reaches: [
              'once',
              ...(rule.grants.exact !== false ? (['exact'] as const) : []),
              ...(rule.grants.patterns ? (['tool'] as const) : []),
              ...(rule.grants.session ? (['session'] as const) : []),
            ],
            maxMinutes: rule.grants.max_minutes,
            maxUses: rule.grants.max_uses ?? null,
          }
        : null,
      line: lineOf(index),
    };
  });
  return {
    defaultGate: file.default,
    mode: file.mode ?? 'enforce',
    timeoutMinutes: timeout,
    rules,
    source,
  };
}

/**
 * Parses and validates a policy file, YAML or JSON (JSON is read as YAML 1.2, of which it is
 * a subset; duplicate keys are refused in both).
 *
 * ```yaml
 * default: none                      # gate for tools no rule names (not quorum)
 * mode: enforce                      # optional; enforce (default) or shadow
 * timeout_minutes: 30                # optional; default 30, at most 10080 (7 days)
 * rules:                             # first match wins
 *   - tool: "transfer_*"             # glob on the tool name: * any run, ? one character
 *     agent: [deploy-bot, "ci-*"]    # optional; globs on the agent key's name or id
 *     read_only: false               # optional; true: tools annotated readOnlyHint: true
 *     mode: shadow                   # optional; this rule's mode (default: the policy's)
 *     when: { "amount": { gt: 1000 }, "payee.iban": { matches: "^DE" } }  # all must hold
 *     gate: quorum                   # none|approve|totp|webauthn|quorum|otp_argument|deny
 *     quorum: { n: 2, approvers: [finance-lead, cto], step_up: totp }
 *     timeout_minutes: 30
 *     grants: { max_minutes: 60, patterns: true, session: true, max_uses: 100 }
 * ```
 * A `when:` entry is an argument path (dots reach into nested objects) mapped to a value (the
 * same as `{eq: value}`) or to operators: `eq`/`ne` (a string, number, boolean or null),
 * `gt`/`gte`/`lt`/`lte` (a number), `matches` (a regular expression, `u` flag, unanchored;
 * compiled here, so a bad one is a parse error). `read_only` trusts the wrapped server's own
 * annotation; `agent` matches the agent the proxy acts for (see `CallContext`).
 * `grants:` (gates approve, totp, webauthn only) lets the human approving a call choose a
 * standing grant instead of "this call once": `exact` (default true) this exact call for up to
 * `max_minutes`, `patterns` this tool with argument constraints, `session` this tool for this
 * agent's session; `max_uses` bounds the uses a grant may allow. Without `grants:`, once only.
 *
 * @param text the file's contents.
 * @param fileName shown in messages, e.g. `policy.yaml`.
 * @returns the compiled {@link Policy}, or `E_POLICY_INVALID` with one line per problem, each
 *   `file:line: what is wrong (got …)`, ordered by line.
 */
export function parsePolicy(text: string, fileName: string): Validation<Policy> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const messages = doc.errors.map((error) => {
      const line = lines.linePos(error.pos[0]).line;
      return `${fileName}:${line}: ${error.message.split('\n')[0] ?? error.code}`;
    });
    return { ok: false, code: 'E_POLICY_INVALID', message: messages.join('\n') };
  }

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return { ok: false, code: 'E_POLICY_INVALID', message: `${fileName}:1: ${reason}` };
  }

  const result = policyFileSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const found = result.error.issues.map((issue) => {
      const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
      const input = 'input' in issue ? issue.input : valueAt(raw, path);
      const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      return { line: lineAt(doc, lines, path, key), text: describeIssue(issue, path, input) };
    });
    found.sort((a, b) => a.line - b.line);
    const messages = [...new Set(found.map((f) => `${fileName}:${f.line}: ${f.text}`))];
    return { ok: false, code: 'E_POLICY_INVALID', message: messages.join('\n') };
  }

  const policy = compilePolicy(result.data, fileName, (index) =>
    lineAt(doc, lines, ['rules', index]),
  );
  return { ok: true, value: { ...policy, text } };
}

/**
 * Reads and parses a policy file (for `--policy FILE` at start-up).
 *
 * @throws LoopgateError `E_POLICY_INVALID` when the file cannot be read or is invalid; the
 *   message names the file and the line (see {@link parsePolicy}).
 */
export async function readPolicyFile(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new LoopgateError('E_POLICY_INVALID', `Cannot read the policy file ${path}: ${reason}`, {
      cause,
    });
  }
  const parsed = parsePolicy(text, path);
  if (!parsed.ok) throw new LoopgateError(parsed.code, `Invalid policy file:\n${parsed.message}`);
  return parsed.value;
}

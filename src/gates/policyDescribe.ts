import type { CallContext, Policy, PolicyCondition, PolicyRule } from './policy.js';
import {
  listToolGates,
  type GateDecision,
  type PolicyExplanation,
  type RuleCheck,
} from './policyEvaluate.js';

const stepUpWords = {
  none: '',
  totp: ', each with an authenticator code,',
  webauthn: ', each with a passkey,',
} as const;

/** The sentence for a decision, without its final full stop. */
function describeGateClause(decision: GateDecision): string {
  const enforced = describeEnforcedClause(decision);
  if (decision.mode !== 'shadow' || decision.gate === 'none') return enforced;
  return `Runs without a human's approval for now (shadow mode: loopgate records that it otherwise ${enforced.charAt(0).toLowerCase()}${enforced.slice(1)})`;
}

function describeEnforcedClause(decision: GateDecision): string {
  switch (decision.gate) {
    case 'none':
      return "Runs without a human's approval";
    case 'approve':
      return "Needs a human's approval before it runs";
    case 'totp':
      return "Needs a human's approval with an authenticator code before it runs";
    case 'webauthn':
      return "Needs a human's approval with a passkey before it runs";
    case 'quorum': {
      const quorum = decision.quorum ?? decision.rule?.quorum;
      if (!quorum) return 'Needs approval by a quorum of humans before it runs';
      return `Needs approval by ${quorum.n} of ${quorum.approvers.join(', ')}${stepUpWords[quorum.stepUp]} before it runs`;
    }
    case 'otp_argument':
      return 'Needs a current authenticator code from a human in its otp argument';
    case 'deny':
      return decision.reason
        ? `Is refused: ${decision.reason}`
        : 'Is refused by policy and never runs';
  }
}

/**
 * A short sentence saying what a human must do before the call runs, for tool descriptions
 * and refusal messages, e.g. "Needs a human's approval with an authenticator code before it
 * runs." Quorum names the approvers; a deny with a `reason` gives it.
 */
export function describeGate(decision: GateDecision): string {
  return `${describeGateClause(decision)}.`;
}

const operatorWords = { eq: '=', ne: '≠', gt: '>', gte: '≥', lt: '<', lte: '≤' } as const;

/** A condition as people write it: `amount > 1000`, `payee.iban matches /^DE/`. */
export function formatCondition(condition: PolicyCondition): string {
  if (condition.operator === 'matches') return `${condition.path} matches /${condition.value}/`;
  return `${condition.path} ${operatorWords[condition.operator]} ${JSON.stringify(condition.value)}`;
}

/**
 * What the policy asks for a tool, as one or more sentences for its `tools/list` description:
 * the gates of {@link listToolGates} with their conditions, e.g. "Needs approval by 2 of
 * finance-lead, cto, each with an authenticator code, before it runs, when amount > 1000.
 * Otherwise, runs without a human's approval."
 */
export function describeToolGates(policy: Policy, tool: string, context: CallContext = {}): string {
  const decisions = listToolGates(policy, tool, context);
  return decisions
    .map((decision, index) => {
      let clause = describeGateClause(decision);
      if (index > 0) clause = `Otherwise, ${clause.charAt(0).toLowerCase()}${clause.slice(1)}`;
      const when = decision.rule?.when ?? [];
      return when.length > 0
        ? `${clause}, when ${when.map(formatCondition).join(' and ')}.`
        : `${clause}.`;
    })
    .join(' ');
}

/**
 * Where a rule is: `policy.yaml:7 (rule 2)`, or `rule 2` when it did not come from a file line;
 * `default` for the policy's default (null).
 */
export function formatRuleLocation(policy: Policy, rule: PolicyRule | null, index: number | null) {
  if (!rule || index === null) return 'default';
  return rule.line === null
    ? `rule ${index + 1}`
    : `${policy.source}:${rule.line} (rule ${index + 1})`;
}

/** A rule as one line of YAML-ish text: `tool: "transfer_*", agent: deploy-bot, gate: approve`. */
export function formatRule(rule: PolicyRule): string {
  const parts = [`tool: ${JSON.stringify(rule.tool)}`];
  if (rule.agents) parts.push(`agent: ${rule.agents.map((a) => JSON.stringify(a)).join(', ')}`);
  if (rule.readOnly !== null) parts.push(`read_only: ${rule.readOnly}`);
  if (rule.when.length > 0) parts.push(`when: ${rule.when.map(formatCondition).join(' and ')}`);
  parts.push(`gate: ${rule.gate}`);
  if (rule.mode) parts.push(`mode: ${rule.mode}`);
  return parts.join(', ');
}

function describeCheck(check: RuleCheck, rule: PolicyRule, tool: string, context: CallContext) {
  switch (check.kind) {
    case 'matched':
      return 'matches';
    case 'unknown':
      return `cannot be evaluated: ${check.reason}`;
    case 'skipped':
      switch (check.on) {
        case 'tool':
          return `skipped: tool ${JSON.stringify(tool)} does not match ${JSON.stringify(rule.tool)}`;
        case 'agent':
          return context.agent
            ? `skipped: agent ${JSON.stringify(context.agent.name)}${context.agent.keyId ? ` (key ${context.agent.keyId})` : ''} is not ${rule.agents!.join(' or ')}`
            : `skipped: the rule names agent ${rule.agents!.join(' or ')} and no agent was given (--agent)`;
        case 'read_only':
          return rule.readOnly
            ? 'skipped: the rule is for read-only tools and this tool is not (--read-only)'
            : 'skipped: the rule is for tools that are not read-only and this tool is read-only';
        case 'when':
          return check.condition
            ? `skipped: condition ${formatCondition(check.condition)} does not hold`
            : 'skipped: its conditions do not hold';
      }
  }
}

/**
 * What `loopgate policy test` prints: each rule tried with why it applied or not, then the
 * decision, e.g.
 *
 * ```
 * policy.yaml:4 (rule 1) {tool: "get_*", read_only: true, gate: none}: skipped: …
 * policy.yaml:6 (rule 2) {tool: "*", agent: "deploy-bot", gate: approve}: matches
 * → gate approve (enforce), from policy.yaml:6 (rule 2): Needs a human's approval before it runs.
 * ```
 */
export function formatPolicyExplanation(
  policy: Policy,
  explanation: PolicyExplanation,
  tool: string,
  context: CallContext,
): string {
  const lines = explanation.checks.map(
    ({ rule, ruleIndex, check }) =>
      `${formatRuleLocation(policy, rule, ruleIndex)} {${formatRule(rule)}}: ${describeCheck(check, rule, tool, context)}`,
  );
  const { decision } = explanation;
  if (decision.rule === null)
    lines.push(
      explanation.checks.length === 0
        ? `No rule names ${JSON.stringify(tool)}; the policy's default applies.`
        : "No rule applies; the policy's default applies.",
    );
  lines.push(
    `→ gate ${decision.gate} (${decision.mode}), from ${formatRuleLocation(policy, decision.rule, decision.ruleIndex)}: ${describeGate(decision)}`,
  );
  return lines.join('\n');
}

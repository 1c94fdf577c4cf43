import type { Policy, PolicyCondition } from './policy.js';
import { listToolGates, type GateDecision } from './policyEvaluate.js';

const stepUpWords = {
  none: '',
  totp: ', each with an authenticator code,',
  webauthn: ', each with a passkey,',
} as const;

/** The sentence for a decision, without its final full stop. */
function describeGateClause(decision: GateDecision): string {
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
export function describeToolGates(policy: Policy, tool: string): string {
  const decisions = listToolGates(policy, tool);
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

import { isSameGate, type ApprovalRecord, type GateSpec } from '../core/approval.js';
import { diffArguments, type ApprovalEdit } from '../core/approvalEdit.js';
import { computeActionHash } from '../core/actionHash.js';
import { LoopgateError } from '../core/errors.js';
import type { Validation } from '../core/errors.js';
import { checkToolCallLimits } from '../core/toolCallLimits.js';
import { evaluatePolicy, type GateDecision } from '../gates/policyEvaluate.js';
import { parsePolicy } from '../gates/policyParse.js';

/**
 * Checks arguments against a JSON Schema (the wrapped tool's `inputSchema`): the value as
 * given, or what is wrong with it. Supplied by the composition root (an MCP SDK validator).
 */
export type ToolArgumentsValidator = (
  schema: Record<string, unknown>,
  args: Record<string, unknown>,
) => Promise<Validation<Record<string, unknown>>>;

/** An accepted edit: the edited call's action hash and arguments, and the edit to record. */
export interface ApprovalEditCheck {
  actionHash: string;
  actionDetails: Record<string, unknown>;
  edit: ApprovalEdit;
}

/** The gate a policy decision asks for, as a request records it (the gateway's mapping). */
function toGateSpec(decision: GateDecision): GateSpec | null {
  if (decision.gate === 'quorum' && decision.quorum)
    return { type: 'quorum', quorum: { ...decision.quorum } };
  if (decision.gate === 'totp' || decision.gate === 'webauthn') return { type: decision.gate };
  if (decision.gate === 'approve') return { type: 'approve' };
  return null;
}

/**
 * Checks a human's edit of a gated call before it is approved: the request must be a gated
 * call the gateway sent edit constraints for (not a quorum, whose approvers vote on one call);
 * the edited arguments must be within the tool-call limits and valid against the wrapped tool's
 * input schema; and the gateway's policy, applied to the edited call, must neither deny it nor
 * ask for another gate than the one the request is decided under (an edit that needs no gate
 * at all is allowed: the human approves it anyway).
 *
 * @returns the edited call's action hash and arguments and the edit to record; null when the
 *   arguments are unchanged (an ordinary approval).
 * @throws LoopgateError E_APPROVAL_EDIT_INVALID (not editable, or invalid arguments),
 *   E_APPROVAL_EDIT_DENIED (the policy denies the edited call or asks for another gate)
 */
export async function checkApprovalEdit(
  record: ApprovalRecord,
  edited: Record<string, unknown>,
  validate: ToolArgumentsValidator | undefined,
): Promise<ApprovalEditCheck | null> {
  const constraints = record.editConstraints;
  if (!record.toolName || !constraints || !validate || record.gate.type === 'quorum') {
    throw new LoopgateError(
      'E_APPROVAL_EDIT_INVALID',
      `Request ${record.id} cannot be edited (${record.gate.type === 'quorum' ? 'a quorum votes on the call as asked' : 'only calls held back by loopgate proxy, with the wrapped tool’s input schema, can'}); approve or reject it as it is. Nothing was decided.`,
    );
  }
  const original = record.actionDetails as Record<string, unknown>;
  const changes = diffArguments(original, edited);
  if (changes.length === 0) return null;
  const call = { tool: record.toolName, arguments: edited };
  const limited = checkToolCallLimits(call);
  if (!limited.ok)
    throw new LoopgateError('E_APPROVAL_EDIT_INVALID', `${limited.message} Nothing was decided.`);
  const valid = await validate(constraints.inputSchema, edited);
  if (!valid.ok) {
    throw new LoopgateError(
      'E_APPROVAL_EDIT_INVALID',
      `The edited arguments do not match ${record.toolName}'s input schema: ${valid.message}. Nothing was decided; correct the arguments or approve the call as it is.`,
    );
  }
  const policy = parsePolicy(constraints.policyText, constraints.policySource);
  if (!policy.ok) {
    throw new LoopgateError(
      'E_APPROVAL_EDIT_INVALID',
      `The gateway's policy sent with request ${record.id} cannot be read (${policy.message}); edits cannot be checked. Nothing was decided.`,
    );
  }
  const decision = evaluatePolicy(policy.value, record.toolName, edited, {
    agent: constraints.agent,
    readOnly: constraints.readOnly,
  });
  const gate = decision.mode === 'shadow' || decision.gate === 'none' ? null : toGateSpec(decision);
  const denied =
    decision.mode === 'enforce' &&
    (decision.gate === 'deny' ||
      decision.gate === 'otp_argument' ||
      (gate !== null && !isSameGate(gate, record.gate)));
  if (denied) {
    const why =
      decision.gate === 'deny'
        ? `the policy (${constraints.policySource}) denies ${record.toolName} with these arguments${decision.reason ? `: ${decision.reason}` : ''}`
        : `the policy (${constraints.policySource}) asks for gate "${decision.gate}" for the edited call, not "${record.gate.type}" as for the call asked`;
    throw new LoopgateError(
      'E_APPROVAL_EDIT_DENIED',
      `The edit was refused: ${why}. Nothing was decided; approve the call as it is, edit it differently, or reject it.`,
    );
  }
  return {
    actionHash: computeActionHash(call),
    actionDetails: edited,
    edit: {
      originalActionHash: record.actionHash,
      originalArguments: original,
      changes,
    },
  };
}

import { LoopgateError } from '../core/errors.js';
import type { CallContext } from '../gates/policy.js';
import { explainPolicy } from '../gates/policyEvaluate.js';
import { formatPolicyExplanation } from '../gates/policyDescribe.js';
import { readPolicyFile } from '../gates/policyParse.js';

/** The flags `loopgate policy test` reads (besides the positionals). */
export interface PolicyTestFlags {
  tool?: string | boolean | undefined;
  args?: string | boolean | undefined;
  agent?: string | boolean | undefined;
  readOnly?: string | boolean | undefined;
}

const testUsage =
  'Use `loopgate policy test FILE --tool NAME [--args JSON] [--agent NAME] [--read-only]`.';

/**
 * Reads `--args`: a JSON object of the call's arguments (default `{}`).
 * @throws LoopgateError E_CLI_USAGE when it is not JSON or not an object
 */
function parseArguments(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new LoopgateError(
      'E_CLI_USAGE',
      `--args must be a JSON object of the call's arguments, e.g. --args '{"amount": 5000}'; got ${JSON.stringify(raw.slice(0, 80))} (${(cause as Error).message}).`,
      { cause },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new LoopgateError(
      'E_CLI_USAGE',
      `--args must be a JSON object of the call's arguments, e.g. --args '{"amount": 5000}'; got ${Array.isArray(parsed) ? 'a list' : JSON.stringify(parsed)}.`,
    );
  }
  return parsed as Record<string, unknown>;
}

/**
 * `loopgate policy test FILE --tool NAME [--args JSON] [--agent NAME] [--read-only]`: prints
 * each rule the policy tries for that call, why it applies or not, and the gate it ends at
 * (exit 0 whatever the gate). `--agent` is the agent key's name (or id) the proxy acts for;
 * `--read-only` says the wrapped tool is annotated `readOnlyHint: true`.
 *
 * @throws LoopgateError E_CLI_USAGE for a missing FILE or --tool, or --args that is not a JSON
 *   object; E_POLICY_INVALID for a policy file that cannot be read or is invalid.
 */
export async function commandPolicy(
  positionals: string[],
  flags: PolicyTestFlags,
  out: (line: string) => void,
): Promise<void> {
  if (positionals[1] !== 'test') throw new LoopgateError('E_CLI_USAGE', testUsage);
  const file = positionals[2];
  if (!file)
    throw new LoopgateError('E_CLI_USAGE', `policy test needs the policy FILE. ${testUsage}`);
  if (typeof flags.tool !== 'string' || flags.tool === '')
    throw new LoopgateError('E_CLI_USAGE', `policy test needs --tool NAME. ${testUsage}`);
  const args = parseArguments(typeof flags.args === 'string' ? flags.args : undefined);
  const policy = await readPolicyFile(file);
  const context: CallContext = {
    agent: typeof flags.agent === 'string' ? { name: flags.agent, keyId: null } : null,
    readOnly: flags.readOnly === true,
  };
  out(
    `Call: ${flags.tool} ${JSON.stringify(args)}, agent ${context.agent ? JSON.stringify(context.agent.name) : '(none given)'}, ${context.readOnly ? 'read-only' : 'not read-only'}.`,
  );
  out(
    formatPolicyExplanation(
      policy,
      explainPolicy(policy, flags.tool, args, context),
      flags.tool,
      context,
    ),
  );
}

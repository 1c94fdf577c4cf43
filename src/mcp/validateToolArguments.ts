import { DefaultJsonSchemaValidator } from '@modelcontextprotocol/server/_shims';
import type { Validation } from '../core/errors.js';

const validator = new DefaultJsonSchemaValidator();

/**
 * Checks a tool call's arguments against the tool's JSON Schema (`inputSchema`) with the MCP
 * SDK's own validator (Ajv: JSON Schema 2020-12 by default, the dialect `$schema` names
 * otherwise, formats included), the one an MCP server applies to the calls it receives.
 * @returns the arguments, or E_APPROVAL_EDIT_INVALID with Ajv's message (`data/amount must be
 *   number`); a schema the validator cannot compile is reported the same way.
 */
export function validateToolArguments(
  schema: Record<string, unknown>,
  args: Record<string, unknown>,
): Promise<Validation<Record<string, unknown>>> {
  return Promise.resolve(checkArguments(schema, args));
}

function checkArguments(
  schema: Record<string, unknown>,
  args: Record<string, unknown>,
): Validation<Record<string, unknown>> {
  let result: { valid: boolean; errorMessage?: string | undefined };
  try {
    result = validator.getValidator<Record<string, unknown>>(schema as never)(args);
  } catch (cause) {
    return {
      ok: false,
      code: 'E_APPROVAL_EDIT_INVALID',
      message: `the tool's input schema cannot be used (${(cause as Error).message})`,
    };
  }
  if (result.valid) return { ok: true, value: args };
  return {
    ok: false,
    code: 'E_APPROVAL_EDIT_INVALID',
    message: result.errorMessage ?? 'the arguments do not match',
  };
}

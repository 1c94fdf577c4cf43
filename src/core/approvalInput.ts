import { z } from 'zod';
import { approvalLimits } from './approval.js';

/** One value the human must fill in (`fields` of request_approval). */
export const fieldSpecSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/,
        'a name of letters, digits, _ . - (1-64, not starting with a digit)',
      )
      .describe('Key the value comes back under in response.fields.'),
    label: z.string().min(1).max(200).describe('What the human sees next to the input.'),
    type: z
      .enum(['string', 'number', 'boolean'])
      .describe('Input type: string, number or boolean.'),
    required: z
      .boolean()
      .optional()
      .describe('When true the human cannot approve without a value.'),
  })
  .strict();

/**
 * The request_approval input, LoopPause-compatible (`action_description`, `action_details`,
 * `recipient_email`, `recipient_slack`, `timeout_hours`) plus loopgate's `fields`.
 */
export const approvalInputSchema = z
  .object({
    action_description: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(approvalLimits.maxDescriptionLength)
      .describe(
        'One sentence a human can judge, e.g. "Send $420 to ACME Corp from the ops account".',
      ),
    action_details: z
      .record(
        z.string().min(1).max(approvalLimits.maxDetailKeyLength),
        z.union([
          z.string().max(approvalLimits.maxDetailValueLength),
          z.number().finite(),
          z.boolean(),
        ]),
      )
      .refine(
        (d) => Object.keys(d).length <= approvalLimits.maxDetails,
        `at most ${approvalLimits.maxDetails} details`,
      )
      .describe(
        'The exact parameters of the action (strings, numbers or booleans), shown to the human in full as a table.',
      ),
    recipient_email: z
      .email()
      .optional()
      .describe('Email address to notify (delivered when email is configured).'),
    recipient_slack: z
      .string()
      .regex(
        /^(#[a-z0-9._-]{1,80}|[UCGW][A-Z0-9]{2,20})$/,
        'a #channel name or a Slack user/channel id like U012ABC',
      )
      .optional()
      .describe('Slack #channel or user id to notify (delivered when Slack is configured).'),
    timeout_hours: z
      .number()
      .positive()
      .max(approvalLimits.maxTimeoutHours)
      .optional()
      .describe(
        `Hours until the request times out; default ${approvalLimits.defaultTimeoutHours}, max ${approvalLimits.maxTimeoutHours}.`,
      ),
    fields: z
      .array(fieldSpecSchema)
      .max(approvalLimits.maxFields)
      .refine((f) => new Set(f.map((x) => x.name)).size === f.length, 'field names must be unique')
      .optional()
      .describe('Values the human must fill in when deciding, returned in response.fields.'),
  })
  .strict();

/** Parsed request_approval input. */
export type ApprovalInput = z.infer<typeof approvalInputSchema>;

/** Human-readable list of what was wrong with a zod parse, one issue per clause. */
export function describeZodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : 'input'}: ${issue.message}`)
    .join('; ');
}

import { z } from 'zod';
import type { Validation } from '../core/errors.js';

/**
 * What the viewer page sends (as JSON inside an E2EE message) to act on the remote page.
 * Coordinates are CSS pixels of the streamed page's viewport — the `deviceWidth` ×
 * `deviceHeight` space of the screencast frame metadata — with (0, 0) at its top left.
 */

const coordinate = z.number().min(0).max(100_000);
const delta = z.number().min(-100_000).max(100_000);
const point = { x: coordinate, y: coordinate };
const button = z.enum(['left', 'middle', 'right']);
const modifiers = z
  .strictObject({
    alt: z.boolean().optional(),
    ctrl: z.boolean().optional(),
    meta: z.boolean().optional(),
    shift: z.boolean().optional(),
  })
  .optional();
// A key value is one character or a named key (UI Events `key`), never a sentence.
const keyValue = z.string().min(1).max(32);
const codeValue = z
  .string()
  .regex(/^[A-Za-z0-9]{1,32}$/)
  .optional();

/** The longest text one `insertText` may carry (a pasted password or a long code fits). */
export const maxInsertTextLength = 10_000;

/** The zod schema of every input event the agent accepts; anything else is refused. */
export const inputEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('mouseMove'),
    ...point,
    buttons: z.number().int().min(0).max(7).optional(),
    modifiers,
  }),
  z.strictObject({
    type: z.literal('mouseDown'),
    ...point,
    button,
    clickCount: z.number().int().min(1).max(3).optional(),
    modifiers,
  }),
  z.strictObject({
    type: z.literal('mouseUp'),
    ...point,
    button,
    clickCount: z.number().int().min(1).max(3).optional(),
    modifiers,
  }),
  z.strictObject({ type: z.literal('click'), ...point, button: button.optional(), modifiers }),
  z.strictObject({ type: z.literal('dblclick'), ...point, modifiers }),
  z.strictObject({
    type: z.literal('drag'),
    from: z.strictObject(point),
    to: z.strictObject(point),
    steps: z.number().int().min(1).max(50).optional(),
  }),
  z.strictObject({ type: z.literal('wheel'), ...point, deltaX: delta, deltaY: delta, modifiers }),
  z.strictObject({ type: z.literal('tap'), ...point }),
  z.strictObject({ type: z.literal('touchScroll'), ...point, deltaX: delta, deltaY: delta }),
  z.strictObject({
    type: z.literal('keyDown'),
    key: keyValue,
    code: codeValue,
    modifiers,
    repeat: z.boolean().optional(),
  }),
  z.strictObject({ type: z.literal('keyUp'), key: keyValue, code: codeValue, modifiers }),
  z.strictObject({ type: z.literal('keyPress'), key: keyValue, code: codeValue, modifiers }),
  z.strictObject({
    type: z.literal('insertText'),
    text: z.string().min(1).max(maxInsertTextLength),
  }),
  z.strictObject({ type: z.literal('navigate'), action: z.enum(['back', 'forward', 'reload']) }),
]);

/** One validated viewer input event. */
export type InputEvent = z.infer<typeof inputEventSchema>;

/** Every input event type. */
export const inputEventTypes = inputEventSchema.options.map((o) => o.shape.type.value);

/**
 * Validates an input event that came from the viewer.
 * Returns `{ok: false, code: 'E_HANDOFF_INPUT_INVALID'}` for an unknown `type`, an unknown or
 * missing field, a wrong type or a value out of range; the message names the field.
 */
export function validateInputEvent(value: unknown): Validation<InputEvent> {
  const type =
    typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !(inputEventTypes as string[]).includes(type)) {
    return {
      ok: false,
      code: 'E_HANDOFF_INPUT_INVALID',
      message: `Unknown input event type ${JSON.stringify(type)}; expected one of ${inputEventTypes.join(', ')}.`,
    };
  }
  const parsed = inputEventSchema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(event)';
  return {
    ok: false,
    code: 'E_HANDOFF_INPUT_INVALID',
    message: `Input event ${type}: ${where}: ${issue?.message ?? 'invalid'}.`,
  };
}

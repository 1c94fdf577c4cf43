import { z } from 'zod';
import type { Validation } from '../core/errors.js';
import { inputEventTypes, validateInputEvent, type InputEvent } from './inputEvent.js';

/** Bounds of each side of a `fitViewport` request, CSS px. */
export const viewportLimits = { min: 320, max: 1920 } as const;

/** Control messages the viewer sends (encrypted) besides input events. */
const controlSchema = z.discriminatedUnion('type', [
  /** The viewer has drawn frame `frame`: the agent may ack Chromium's next one. */
  z.strictObject({ type: z.literal('frameAck'), frame: z.number().int().min(0) }),
  /** Round-trip probe; the agent answers `{type: 'pong', t}` with the same `t`. */
  z.strictObject({ type: z.literal('ping'), t: z.number() }),
  /** The human pressed Done: the blocker is solved. */
  z.strictObject({ type: z.literal('done') }),
  /** The human pressed Cancel. */
  z.strictObject({ type: z.literal('cancel') }),
  /**
   * The human pressed "Fit to this screen": lay the agent's page out at the viewer's available
   * size, CSS px (each side 320–1920), until `restoreViewport` or the end of the handoff.
   */
  z.strictObject({
    type: z.literal('fitViewport'),
    width: z.number().int().min(viewportLimits.min).max(viewportLimits.max),
    height: z.number().int().min(viewportLimits.min).max(viewportLimits.max),
  }),
  /** The human pressed "Restore size": the agent's page gets its own viewport back. */
  z.strictObject({ type: z.literal('restoreViewport') }),
]);

/** A viewer control message. */
export type ViewerControl = z.infer<typeof controlSchema>;

/** Anything the viewer may send inside the E2EE channel. */
export type ViewerMessage =
  { kind: 'input'; event: InputEvent } | { kind: 'control'; message: ViewerControl };

const controlTypes = controlSchema.options.map((o) => o.shape.type.value);

/**
 * Validates one decrypted JSON message from the viewer: an input event
 * ({@link validateInputEvent}) or a control message (`frameAck`, `ping`, `done`, `cancel`,
 * `fitViewport`, `restoreViewport`).
 * Anything else is `{ok: false, code: 'E_HANDOFF_INPUT_INVALID'}`.
 */
export function validateViewerMessage(value: unknown): Validation<ViewerMessage> {
  const type =
    typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type === 'string' && (controlTypes as string[]).includes(type)) {
    const parsed = controlSchema.safeParse(value);
    if (parsed.success) return { ok: true, value: { kind: 'control', message: parsed.data } };
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      code: 'E_HANDOFF_INPUT_INVALID',
      message: `Viewer message ${type}: ${issue?.path.join('.') || '(message)'}: ${issue?.message ?? 'invalid'}.`,
    };
  }
  const input = validateInputEvent(value);
  if (input.ok) return { ok: true, value: { kind: 'input', event: input.value } };
  if (typeof type === 'string' && !(inputEventTypes as string[]).includes(type)) {
    return {
      ok: false,
      code: 'E_HANDOFF_INPUT_INVALID',
      message: `Unknown viewer message type ${JSON.stringify(type)}; expected an input event (${inputEventTypes.join(', ')}) or ${controlTypes.join(', ')}.`,
    };
  }
  return input;
}

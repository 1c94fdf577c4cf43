import { describe, expect, it } from 'vitest';
import { validateViewerMessage } from './viewerMessage.js';

describe('validateViewerMessage', () => {
  it('accepts input events and the six control messages', () => {
    expect(validateViewerMessage({ type: 'keyPress', key: 'Enter' })).toEqual({
      ok: true,
      value: { kind: 'input', event: { type: 'keyPress', key: 'Enter' } },
    });
    for (const message of [
      { type: 'frameAck', frame: 3 },
      { type: 'ping', t: 12.5 },
      { type: 'done' },
      { type: 'cancel' },
      { type: 'fitViewport', width: 390, height: 771 },
      { type: 'fitViewport', width: 320, height: 1920 },
      { type: 'restoreViewport' },
    ]) {
      expect(validateViewerMessage(message)).toEqual({
        ok: true,
        value: { kind: 'control', message },
      });
    }
  });

  it.each([
    [{ type: 'resolve', status: 'resolved' }, /Unknown viewer message type "resolve"/],
    [{ type: 'frameAck', frame: -1 }, /frameAck: frame/],
    [{ type: 'frameAck' }, /frameAck: frame/],
    [{ type: 'done', reason: 'x' }, /done/],
    [{ type: 'fitViewport', width: 100, height: 800 }, /fitViewport: width/],
    [{ type: 'fitViewport', width: 390, height: 5000 }, /fitViewport: height/],
    [{ type: 'fitViewport', width: 390.5, height: 800 }, /fitViewport: width/],
    [{ type: 'restoreViewport', width: 390 }, /restoreViewport/],
    [{ type: 'click', x: 'left' }, /click: x/],
    [[], /Unknown input event type/],
  ])('refuses %j', (value, message) => {
    const v = validateViewerMessage(value);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.code).toBe('E_HANDOFF_INPUT_INVALID');
      expect(v.message).toMatch(message);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { checkToolCallLimits, toolCallLimits } from './toolCallLimits.js';

describe('checkToolCallLimits', () => {
  it('accepts 100 arguments, refuses 101 with E_GATEWAY_CALL_TOO_LARGE naming the limit', () => {
    const args = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`a${i}`, 'x']));
    expect(checkToolCallLimits({ tool: 'send_email', arguments: args }).ok).toBe(true);
    const refused = checkToolCallLimits({
      tool: 'send_email',
      arguments: { ...args, to: 'ATTACKER' },
    });
    expect(refused).toMatchObject({ ok: false, code: 'E_GATEWAY_CALL_TOO_LARGE' });
    expect(!refused.ok && refused.message).toMatch(/101 arguments; .*at most 100/);
  });

  it('refuses canonical JSON over the byte limit, counting UTF-8 bytes', () => {
    const fits = 'é'.repeat(30_000);
    expect(checkToolCallLimits({ tool: 't', arguments: { v: fits } }).ok).toBe(true);
    const refused = checkToolCallLimits({
      tool: 't',
      arguments: { v: 'é'.repeat(toolCallLimits.maxCanonicalBytes / 2) },
    });
    expect(refused).toMatchObject({ ok: false, code: 'E_GATEWAY_CALL_TOO_LARGE' });
    expect(!refused.ok && refused.message).toMatch(/bytes of canonical JSON; .*at most 65536/);
  });

  it('refuses nesting deeper than the limit', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < toolCallLimits.maxDepth; i++) deep = { d: deep };
    expect(checkToolCallLimits({ tool: 't', arguments: { v: deep } }).ok).toBe(true);
    const refused = checkToolCallLimits({ tool: 't', arguments: { v: [deep] } });
    expect(refused).toMatchObject({ ok: false, code: 'E_GATEWAY_CALL_TOO_LARGE' });
    expect(!refused.ok && refused.message).toMatch(/more than 8 deep/);
  });
});

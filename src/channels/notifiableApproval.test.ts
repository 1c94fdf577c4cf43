import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ApprovalView } from '../core/approvalView.js';
import {
  formatDetailValue,
  labelOfField,
  truncateText,
  type NotifiableApproval,
} from './notifiableApproval.js';

describe('NotifiableApproval', () => {
  it('accepts the approval view as is (checked by tsc)', () => {
    expectTypeOf<ApprovalView>().toExtend<NotifiableApproval>();
  });

  it('formats detail values as one display string', () => {
    expect(formatDetailValue('ACME')).toBe('ACME');
    expect(formatDetailValue(420)).toBe('420');
    expect(formatDetailValue({ a: [1, 'b'] })).toBe('{\n  "a": [\n    1,\n    "b"\n  ]\n}');
    expect(formatDetailValue(undefined)).toBe('');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(formatDetailValue(cyclic)).toBe('[object Object]');
  });

  it('truncates by code points and labels fields', () => {
    expect(truncateText('abcdef', 4)).toBe('abc…');
    expect(truncateText('😀😀😀', 2)).toBe('😀…');
    expect(truncateText('abc', 3)).toBe('abc');
    expect(labelOfField({ name: 'ref', label: 'Reference' })).toBe('Reference');
    expect(labelOfField({ name: 'ref', label: ' ' })).toBe('ref');
  });
});

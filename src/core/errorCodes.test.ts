import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from './errorCodes.js';

const docsPath = new URL('../../docs/errors.md', import.meta.url);

function documentedRows(): Map<string, { status: number; meaning: string }> {
  const rows = new Map<string, { status: number; meaning: string }>();
  for (const line of readFileSync(docsPath, 'utf8').split('\n')) {
    const m = /^\| `(E_[A-Z0-9_]+)` \| (\d{3}) \| (.+) \|$/.exec(line);
    if (m) rows.set(m[1]!, { status: Number(m[2]), meaning: m[3]! });
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('documents every registered code with its status and meaning, and nothing else', () => {
    const rows = documentedRows();
    for (const [code, entry] of Object.entries(errorCodes)) {
      expect(rows.get(code), `docs/errors.md lacks a row for ${code}`).toEqual({
        status: entry.status,
        meaning: entry.meaning,
      });
    }
    const stale = [...rows.keys()].filter((code) => !(code in errorCodes));
    expect(stale, 'docs/errors.md lists codes the registry does not have').toEqual([]);
  });

  it('uses the E_<AREA>_<WHAT> form for every code', () => {
    for (const code of Object.keys(errorCodes)) expect(code).toMatch(/^E_[A-Z0-9]+_[A-Z0-9_]+$/);
  });
});

import { describe, expect, it } from 'vitest';
import { assemblePage } from './staticPages.js';

describe('assemblePage', () => {
  const partials: Record<string, string> = {
    head: '<meta charset="utf-8" />\n<link rel="stylesheet" href="/assets/app.css" />\n',
  };
  const read = (name: string) => partials[name] ?? null;

  it('puts each partial where its line stands, indented as the line', () => {
    const page =
      '<html>\n  <head>\n    <!-- partial: head -->\n    <title>T</title>\n  </head>\n</html>\n';
    expect(assemblePage(page, read)).toBe(
      '<html>\n  <head>\n    <meta charset="utf-8" />\n    <link rel="stylesheet" href="/assets/app.css" />\n    <title>T</title>\n  </head>\n</html>\n',
    );
  });

  it('leaves a page without partials as it is', () => {
    expect(assemblePage('<p>plain <!-- partial: head --> in a line</p>\n', read)).toBe(
      '<p>plain <!-- partial: head --> in a line</p>\n',
    );
  });

  it('gives null for a page that names a partial the install does not have', () => {
    expect(assemblePage('<body>\n  <!-- partial: header -->\n</body>\n', read)).toBeNull();
  });
});

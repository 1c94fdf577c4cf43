/**
 * Escapes text for HTML element content and double- or single-quoted attribute values: `&`, `<`,
 * `>`, `"`, `'` become character references (HTML Living Standard §13.1.4, §13.5).
 */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

import { describe, expect, it } from 'vitest';
import { buildTotpUri, createTotpSecret } from './totpSecret.js';
import { renderTotpQr } from './totpQr.js';

function pngSize(dataUrl: string): { width: number; height: number } {
  const png = Buffer.from(dataUrl.slice('data:image/png;base64,'.length), 'base64');
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('renderTotpQr', () => {
  it('draws the enrolment URI as a square PNG data URL and as terminal blocks', async () => {
    const uri = buildTotpUri({ secret: createTotpSecret(), account: 'alice' });
    const qr = await renderTotpQr(uri);
    expect(qr.dataUrl.startsWith('data:image/png;base64,')).toBe(true);
    const { width, height } = pngSize(qr.dataUrl);
    expect(width).toBe(height);
    expect(width).toBeGreaterThanOrEqual(150); // scannable from a screen at scale 6
    const rows = qr.terminal.split('\n').filter((line) => line.length > 0);
    expect(rows.length).toBeGreaterThan(15);
    expect(qr.terminal).toMatch(/[█▀▄]/);
    expect(qr.terminal).not.toContain(uri); // a picture of the URI, not the URI itself
  });

  it('gives different pictures for different secrets', async () => {
    const a = await renderTotpQr(buildTotpUri({ secret: createTotpSecret(), account: 'alice' }));
    const b = await renderTotpQr(buildTotpUri({ secret: createTotpSecret(), account: 'alice' }));
    expect(a.dataUrl).not.toBe(b.dataUrl);
    expect(a.terminal).not.toBe(b.terminal);
  });

  it('refuses text too long for any QR code', async () => {
    await expect(renderTotpQr('x'.repeat(8000))).rejects.toThrow();
  });
});

import { toDataURL, toString } from 'qrcode';

/** A TOTP enrolment URI drawn as a QR code for each place it is shown. */
export type TotpQr = {
  /** For `loopgate totp enroll`: half-block characters with ANSI colours, one row per line. */
  terminal: string;
  /** For the settings page's `<img src>`: `data:image/png;base64,…`. */
  dataUrl: string;
};

/**
 * Draws an `otpauth://` URI (from `buildTotpUri`) as a QR code (ISO/IEC 18004, error
 * correction level M) that authenticator apps scan. The URI holds the secret: write the
 * terminal form to the terminal only, never to a log.
 *
 * @throws Error from `qrcode` when the URI is too long for any QR version (over ~2,300 bytes).
 */
export async function renderTotpQr(uri: string): Promise<TotpQr> {
  const [terminal, dataUrl] = await Promise.all([
    toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'M' }),
    toDataURL(uri, { type: 'image/png', errorCorrectionLevel: 'M', margin: 2, scale: 6 }),
  ]);
  return { terminal, dataUrl };
}

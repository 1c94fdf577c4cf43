/**
 * The plaintext inside each E2EE DATA message of a handoff (see e2eeSession.ts). Two kinds,
 * told apart by the first byte, so screencast frames travel as raw JPEG bytes (never base64):
 *
 * - frame (agent → viewer): `[1][u16 metadata length][metadata JSON, UTF-8][image bytes]`
 * - message (both ways): `[2][JSON, UTF-8]` — input events, frame acks, pings, Done, Cancel,
 *   status. The receiving side validates the JSON's shape (src/handoff/inputEvent.ts on the
 *   agent side).
 */

/** Screencast frame metadata, in CSS pixels (CDP `Page.ScreencastFrameMetadata`) plus our number. */
export interface FrameMeta {
  /** Our running frame number; the viewer acks it with `{type: 'frameAck', frame}`. */
  frame: number;
  /** Image format of the bytes that follow. */
  format: 'jpeg' | 'png';
  /** Page viewport width and height in CSS pixels: the coordinate space of input events. */
  deviceWidth: number;
  deviceHeight: number;
  pageScaleFactor: number;
  offsetTop: number;
  scrollOffsetX: number;
  scrollOffsetY: number;
  /** Capture time, seconds since the epoch (CDP `timestamp`), when Chromium gave one. */
  timestamp?: number;
}

/** A decoded payload. */
export type HandoffPayload =
  { kind: 'frame'; meta: FrameMeta; image: Uint8Array } | { kind: 'message'; value: unknown };

/** Payload kind bytes. */
export const payloadKind = { frame: 1, message: 2 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes one screencast frame: metadata JSON (≤ 65535 bytes) then the image bytes. */
export function encodeFramePayload(meta: FrameMeta, image: Uint8Array): Uint8Array<ArrayBuffer> {
  const json = encoder.encode(JSON.stringify(meta));
  if (json.length > 0xffff)
    throw new RangeError(`Frame metadata is ${json.length} bytes; at most 65535.`);
  const out = new Uint8Array(3 + json.length + image.length);
  out[0] = payloadKind.frame;
  out[1] = json.length >> 8;
  out[2] = json.length & 0xff;
  out.set(json, 3);
  out.set(image, 3 + json.length);
  return out;
}

/** Encodes one JSON message. */
export function encodeMessagePayload(value: unknown): Uint8Array<ArrayBuffer> {
  const json = encoder.encode(JSON.stringify(value));
  const out = new Uint8Array(1 + json.length);
  out[0] = payloadKind.message;
  out.set(json, 1);
  return out;
}

function isFrameMeta(v: unknown): v is FrameMeta {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  const finite = (k: string): boolean => typeof m[k] === 'number' && Number.isFinite(m[k]);
  return (
    Number.isSafeInteger(m['frame']) &&
    (m['format'] === 'jpeg' || m['format'] === 'png') &&
    [
      'deviceWidth',
      'deviceHeight',
      'pageScaleFactor',
      'offsetTop',
      'scrollOffsetX',
      'scrollOffsetY',
    ].every(finite)
  );
}

/**
 * Decodes a payload; null when it is neither a well-formed frame nor a well-formed JSON
 * message (unknown kind, truncated, invalid UTF-8 or JSON, frame metadata of the wrong shape).
 */
export function decodeHandoffPayload(bytes: Uint8Array): HandoffPayload | null {
  try {
    if (bytes[0] === payloadKind.frame && bytes.length >= 3) {
      const length = (bytes[1]! << 8) | bytes[2]!;
      if (bytes.length < 3 + length) return null;
      const meta: unknown = JSON.parse(decoder.decode(bytes.subarray(3, 3 + length)));
      if (!isFrameMeta(meta)) return null;
      return { kind: 'frame', meta, image: bytes.subarray(3 + length) };
    }
    if (bytes[0] === payloadKind.message) {
      return { kind: 'message', value: JSON.parse(decoder.decode(bytes.subarray(1))) as unknown };
    }
  } catch {
    return null;
  }
  return null;
}

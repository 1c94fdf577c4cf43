import { describe, expect, it } from 'vitest';
import {
  decodeHandoffPayload,
  encodeFramePayload,
  encodeMessagePayload,
  type FrameMeta,
} from './handoffPayload.js';

const meta: FrameMeta = {
  frame: 7,
  format: 'jpeg',
  deviceWidth: 390,
  deviceHeight: 844,
  pageScaleFactor: 1,
  offsetTop: 0,
  scrollOffsetX: 0,
  scrollOffsetY: 120,
};

describe('handoff payloads', () => {
  it('carries a frame as metadata plus raw image bytes, with no base64', () => {
    const image = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const encoded = encodeFramePayload(meta, image);
    expect(encoded.length).toBe(3 + JSON.stringify(meta).length + image.length);
    expect(decodeHandoffPayload(encoded)).toEqual({ kind: 'frame', meta, image });
  });

  it('carries JSON messages', () => {
    expect(decodeHandoffPayload(encodeMessagePayload({ type: 'done' }))).toEqual({
      kind: 'message',
      value: { type: 'done' },
    });
  });

  it('rejects unknown kinds, truncated frames, bad JSON and frame metadata of the wrong shape', () => {
    expect(decodeHandoffPayload(new Uint8Array([9, 1, 2]))).toBeNull();
    expect(decodeHandoffPayload(new Uint8Array([]))).toBeNull();
    expect(
      decodeHandoffPayload(encodeFramePayload(meta, new Uint8Array()).subarray(0, 10)),
    ).toBeNull();
    expect(decodeHandoffPayload(new Uint8Array([2, 0x7b]))).toBeNull();
    expect(decodeHandoffPayload(new Uint8Array([2, 0xff, 0xfe]))).toBeNull();
    const wrong = encodeFramePayload(
      { ...meta, deviceWidth: 'wide' } as unknown as FrameMeta,
      new Uint8Array([1]),
    );
    expect(decodeHandoffPayload(wrong)).toBeNull();
  });
});

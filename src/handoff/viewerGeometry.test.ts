import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { viewportLimits } from './viewerMessage.js';

type Rect = { x: number; y: number; width: number; height: number };
/** The viewer's geometry (web/viewer/viewerGeometry.js), loaded as the browser loads it. */
interface ViewerGeometry {
  fitFrame(canvasWidth: number, canvasHeight: number, pageWidth: number, pageHeight: number): Rect;
  mapToPage(
    x: number,
    y: number,
    drawn: Rect,
    pageWidth: number,
    pageHeight: number,
  ): { x: number; y: number } | null;
  fitLimits: { min: number; max: number };
  fitViewportMessage(
    width: number,
    height: number,
  ): { type: 'fitViewport'; width: number; height: number };
}
const moduleUrl = pathToFileURL(
  fileURLToPath(new URL('../../web/viewer/viewerGeometry.js', import.meta.url)),
).href;
const geometry = (await import(moduleUrl)) as ViewerGeometry;

describe('the viewer’s geometry', () => {
  it('maps a point of the drawn frame to the page, from canvas-relative CSS px', () => {
    // A 1280×800 page on a 390×771 canvas is drawn 390 wide at the top.
    const drawn = geometry.fitFrame(390, 771, 1280, 800);
    expect(drawn).toEqual({ x: 0, y: 0, width: 390, height: 243.75 });
    expect(geometry.mapToPage(195, 121.875, drawn, 1280, 800)).toEqual({ x: 640, y: 400 });
    expect(geometry.mapToPage(195, 300, drawn, 1280, 800)).toBeNull();
    // Fitted to the phone, the page is drawn at its own size: one CSS px is one CSS px.
    const fitted = geometry.fitFrame(390, 771, 390, 771);
    expect(geometry.mapToPage(150.5, 120, fitted, 390, 771)).toEqual({ x: 150.5, y: 120 });
  });

  it('asks for a size within the bounds the agent accepts', () => {
    expect(geometry.fitLimits).toEqual(viewportLimits);
    expect(geometry.fitViewportMessage(390.7, 771.2)).toEqual({
      type: 'fitViewport',
      width: 390,
      height: 771,
    });
    expect(geometry.fitViewportMessage(100, 5000)).toEqual({
      type: 'fitViewport',
      width: 320,
      height: 1920,
    });
    expect(geometry.fitViewportMessage(Number.NaN, 0)).toEqual({
      type: 'fitViewport',
      width: 320,
      height: 320,
    });
  });
});

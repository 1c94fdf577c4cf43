// @ts-check
/**
 * Geometry of the live view: where the remote page's frame is drawn in the canvas, and which
 * remote CSS pixel a pointer position is over. Pure functions, so they are tested on their own.
 */

/**
 * The rectangle (CSS pixels of the canvas) in which a frame of the remote viewport is drawn:
 * as large as fits, aspect ratio kept, centred horizontally, at the top (so a phone in
 * portrait has the page right under the toolbar).
 * @param {number} canvasWidth
 * @param {number} canvasHeight
 * @param {number} pageWidth remote viewport width, CSS px (frame metadata deviceWidth)
 * @param {number} pageHeight remote viewport height, CSS px (frame metadata deviceHeight)
 * @returns {{x: number, y: number, width: number, height: number}}
 */
export function fitFrame(canvasWidth, canvasHeight, pageWidth, pageHeight) {
  if (pageWidth <= 0 || pageHeight <= 0 || canvasWidth <= 0 || canvasHeight <= 0) {
    return { x: 0, y: 0, width: 0, height: 0 };
  }
  const scale = Math.min(canvasWidth / pageWidth, canvasHeight / pageHeight);
  const width = pageWidth * scale;
  const height = pageHeight * scale;
  return { x: (canvasWidth - width) / 2, y: 0, width, height };
}

/**
 * Maps a pointer position (CSS px relative to the canvas's top left) to the remote page's
 * CSS pixel coordinates, or null when it falls outside the drawn frame.
 * @param {number} x
 * @param {number} y
 * @param {{x: number, y: number, width: number, height: number}} drawn from fitFrame
 * @param {number} pageWidth
 * @param {number} pageHeight
 * @returns {{x: number, y: number} | null}
 */
export function mapToPage(x, y, drawn, pageWidth, pageHeight) {
  if (drawn.width <= 0 || drawn.height <= 0) return null;
  const px = ((x - drawn.x) / drawn.width) * pageWidth;
  const py = ((y - drawn.y) / drawn.height) * pageHeight;
  if (px < 0 || py < 0 || px >= pageWidth || py >= pageHeight) return null;
  // Two decimals are more than a CSS pixel needs and keep messages small.
  return { x: Math.round(px * 100) / 100, y: Math.round(py * 100) / 100 };
}

/** Bounds of each side of the size the agent's page is fitted to, CSS px (the agent checks them too). */
export const fitLimits = { min: 320, max: 1920 };

/**
 * The `fitViewport` message for a stage of `width` × `height` CSS px (layout size, so the
 * person's pinch zoom does not change it): each side rounded down and bounded to
 * {@link fitLimits}.
 * @param {number} width
 * @param {number} height
 * @returns {{type: 'fitViewport', width: number, height: number}}
 */
export function fitViewportMessage(width, height) {
  const side = (/** @type {number} */ v) =>
    Math.min(fitLimits.max, Math.max(fitLimits.min, Math.floor(Number.isFinite(v) ? v : 0)));
  return { type: 'fitViewport', width: side(width), height: side(height) };
}

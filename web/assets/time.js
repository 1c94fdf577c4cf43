// @ts-check
/** Times as people read them: absolute in the browser's time zone, relative in words. */

import { createElement } from './dom.js';

const absoluteFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'medium',
});

/**
 * An ISO 8601 time as "20 Nov 2026, 10:05:12" in the browser's locale and time zone.
 * @param {string} iso
 * @returns {string}
 */
export function formatAbsoluteTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : absoluteFormat.format(date);
}

/**
 * A `<time>` element showing an ISO time in words, with the machine value in `datetime`.
 * @param {string} iso
 * @returns {HTMLTimeElement}
 */
export function createTimeElement(iso) {
  return createElement('time', { datetime: iso }, [formatAbsoluteTime(iso)]);
}

/**
 * A duration in milliseconds in short words: "2 d 3 h", "5 h 12 min", "4 min 05 s", "12 s".
 * @param {number} ms  non-negative
 * @param {{ seconds?: boolean }} [options]  `seconds: false` stops at minutes above one minute
 * @returns {string}
 */
export function formatDuration(ms, options = {}) {
  const { seconds: withSeconds = true } = options;
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0)
    return withSeconds ? `${minutes} min ${String(seconds).padStart(2, '0')} s` : `${minutes} min`;
  return `${seconds} s`;
}

/**
 * How long ago an ISO time was: "just now", "5 min ago", "3 h 2 min ago".
 * @param {string} iso
 * @param {number} [now]  ms since the epoch
 * @returns {string}
 */
export function formatAge(iso, now = Date.now()) {
  const elapsed = now - new Date(iso).getTime();
  if (!(elapsed >= 60_000)) return 'just now';
  return `${formatDuration(elapsed, { seconds: false })} ago`;
}

/**
 * Milliseconds until an ISO time (negative once it has passed).
 * @param {string} iso
 * @param {number} [now]
 * @returns {number}
 */
export function millisecondsUntil(iso, now = Date.now()) {
  return new Date(iso).getTime() - now;
}

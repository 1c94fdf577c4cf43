/**
 * Waits until `check` holds, polling every 50 ms. The bound (default 60 s) only names what never
 * came when something is broken; a busy machine just waits longer, so no test depends on speed.
 * @throws Error `timed out waiting for <what>`
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

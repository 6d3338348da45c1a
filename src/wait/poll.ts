/**
 * The polling loop shared by strategies whose condition has no event to await (a command's exit
 * code, an HTTP answer): try, then wait `intervalMs`, until it holds or `signal` aborts.
 */
export async function pollUntil(check: () => Promise<boolean>, intervalMs: number, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    if (await check()) return true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, intervalMs);
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
  return false;
}

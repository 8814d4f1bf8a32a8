/**
 * Retries `check` until it stops throwing, then returns its result; rethrows
 * its last error after `timeoutMs`. For effects that propagate asynchronously
 * (pub/sub invalidations, timers): the assertion is the check itself, the
 * timeout only bounds how long a failing test takes.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/** Resolves with the first value `subscribe` hands to its callback that satisfies `match`; rejects after `timeoutMs`. */
export function nextMatching<T>(subscribe: (callback: (value: T) => void) => void, match: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    subscribe((value) => {
      if (done || !match(value)) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/**
 * Calls `report` after `firstMs` and then every `everyMs` for as long as
 * `work` is pending, and returns `work`'s outcome. For start-up steps that
 * wait without bound for a service to come up (Redis): waiting is right, as
 * the service may start later, but waiting in silence looks like a hang.
 */
export function reportWhileWaiting<T>(work: Promise<T>, report: (waitedMs: number) => void, firstMs: number, everyMs: number): Promise<T> {
  const started = Date.now();
  let timer = setTimeout(function tick() {
    report(Date.now() - started);
    timer = setTimeout(tick, everyMs).unref();
  }, firstMs).unref();
  return work.finally(() => clearTimeout(timer));
}

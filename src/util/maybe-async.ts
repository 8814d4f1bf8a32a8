/**
 * Values that are ready at once on the usual path and only sometimes need a
 * promise (a cache hit or a miss, one node or a cluster). Handing them on
 * without wrapping the ready case in a promise saves the hot path an
 * allocation and a microtask turn per step.
 */
export type MaybePromise<T> = T | Promise<T>;

type Thenable = { then: (ok: (v: unknown) => void, fail: (e: unknown) => void) => unknown };

export function isThenable(v: unknown): v is Thenable {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** `f(value)` now when `value` is ready, once it is otherwise. */
export function andThen<T, R>(value: MaybePromise<T>, f: (v: T) => MaybePromise<R>): MaybePromise<R> {
  return isThenable(value) ? (value as Promise<T>).then(f) : f(value as T);
}

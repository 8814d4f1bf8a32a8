/**
 * Row expiry, shared by the backends that keep `expiresAt` themselves
 * (LevelDB always; DynamoDB because its TTL deletes rows only eventually,
 * up to days later, so reads must filter).
 */

/** Absolute expiry in seconds since the epoch for a row written now. */
export function expiresAtFor(ttlSeconds: number | undefined, nowMs = Date.now()): number | undefined {
  return ttlSeconds ? Math.floor(nowMs / 1000) + ttlSeconds : undefined;
}

export function isExpired(expiresAt: number | undefined, nowMs = Date.now()): boolean {
  return expiresAt !== undefined && expiresAt * 1000 <= nowMs;
}

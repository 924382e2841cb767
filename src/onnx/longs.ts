import { createRequire } from 'node:module';

// Required, not imported (see proto.ts).
const Long = createRequire(import.meta.url)('long') as typeof import('long');
import type { Int64 } from './proto.js';

/** An int64 field as a JS number (exact up to 2^53; INT64_MAX/MIN saturate to +/-Infinity-free bounds). */
export function toNumber(v: Int64 | null | undefined, fallback = 0): number {
  if (v === null || v === undefined) return fallback;
  if (typeof v === 'number') return v;
  if (v.greaterThan(Long.fromNumber(Number.MAX_SAFE_INTEGER))) return Number.MAX_SAFE_INTEGER;
  if (v.lessThan(Long.fromNumber(Number.MIN_SAFE_INTEGER))) return Number.MIN_SAFE_INTEGER;
  return v.toNumber();
}

export function toNumbers(v: readonly Int64[] | null | undefined): number[] {
  return v ? v.map((x) => toNumber(x)) : [];
}

export function toBigInt(v: Int64 | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  return typeof v === 'number' ? BigInt(v) : BigInt(v.toString());
}

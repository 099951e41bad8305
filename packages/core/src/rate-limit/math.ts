/**
 * Exact integer division for non-negative integers below 2^53.
 *
 * `Math.floor(a / b)` can be one too high when the double quotient rounds up across an
 * integer; the correction makes it exact. Lua scripts and SQL use the same rule.
 */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q -= 1;
  return q;
}

/** Exact `ceil(a / b)` for non-negative integers below 2^53. */
export function ceilDiv(a: number, b: number): number {
  const q = floorDiv(a, b);
  return q * b < a ? q + 1 : q;
}

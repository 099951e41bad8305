import type { Growth } from './run.js';

/** Least squares of y = a + b·x + c·t, by the normal equations; undefined when they are singular. */
export function fitRateAndTime(y: number[], x: number[], t: number[]): [number, number, number] | undefined {
  const n = y.length;
  let sx = 0,
    st = 0,
    sxx = 0,
    stt = 0,
    sxt = 0,
    sy = 0,
    sxy = 0,
    sty = 0;
  for (let i = 0; i < n; i++) {
    sx += x[i]!;
    st += t[i]!;
    sxx += x[i]! * x[i]!;
    stt += t[i]! * t[i]!;
    sxt += x[i]! * t[i]!;
    sy += y[i]!;
    sxy += x[i]! * y[i]!;
    sty += t[i]! * y[i]!;
  }
  const m = [
    [n, sx, st],
    [sx, sxx, sxt],
    [st, sxt, stt],
  ];
  const v = [sy, sxy, sty];
  const det = (a: number[][]) =>
    a[0]![0]! * (a[1]![1]! * a[2]![2]! - a[1]![2]! * a[2]![1]!) -
    a[0]![1]! * (a[1]![0]! * a[2]![2]! - a[1]![2]! * a[2]![0]!) +
    a[0]![2]! * (a[1]![0]! * a[2]![1]! - a[1]![1]! * a[2]![0]!);
  const d = det(m);
  if (!Number.isFinite(d) || Math.abs(d) < 1e-9 * Math.max(1, Math.abs(n * sxx * stt))) return undefined;
  // Cramer's rule: column j replaced by v.
  const solve = (j: number) => det(m.map((row, i) => row.map((c, k) => (k === j ? v[i]! : c)))) / d;
  return [solve(0), solve(1), solve(2)];
}

/**
 * Growth of a figure over the run once the call rate is accounted for: the live records, and
 * with them heap and RSS, follow the call rate (`rate`, calls per sample interval), which moves
 * with the machine's load. Fits value = a + b·rate + c·time and reports the time term over
 * the run, at the mean rate: `first` and `last` are the fitted values at the first and last
 * sample. A leak shows as c > 0 whatever the rate did.
 */
export function trendOf(values: number[], rate: number[], atMs: number[]): Growth | undefined {
  if (values.length < 4) return undefined;
  const f = fitRateAndTime(values, rate, atMs);
  if (!f) return undefined;
  const [a, b, c] = f;
  const meanRate = rate.reduce((s, r) => s + r, 0) / rate.length;
  const first = a + b * meanRate + c * atMs[0]!;
  const last = a + b * meanRate + c * atMs[atMs.length - 1]!;
  return { first, last, max: Math.max(...values), growth: first === 0 ? 0 : last / first - 1 };
}

// Small statistics the benches share.

/** The middle value of `xs` (the upper one of an even count); NaN for none. */
export function median(xs: number[]): number {
  if (!xs.length) return Number.NaN;
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

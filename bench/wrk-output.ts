// What the benches read from wrk's `--latency` output.

export interface WrkFigures {
  /** Requests per second. */
  rps: number;
  /** Latency percentiles in ms (NaN when wrk did not print them). */
  p50: number;
  p99: number;
  /** wrk's socket-error and non-2xx/3xx lines, joined; empty when it had none. */
  errors: string;
}

/** One latency percentile in ms from a line like `  99%    2.31ms`. */
function percentile(out: string, pct: number): number {
  const m = new RegExp(`\\s${pct}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(out);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

export function parseWrk(out: string): WrkFigures {
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: percentile(out, 50),
    p99: percentile(out, 99),
    errors: [/Socket errors: .*/.exec(out)?.[0], /Non-2xx or 3xx responses: \d+/.exec(out)?.[0]]
      .filter(Boolean)
      .join('; '),
  };
}

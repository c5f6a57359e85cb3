// Cron schedules as CronJobs spell them: five fields (minute hour day-of-month month
// day-of-week) with *, lists, ranges, steps and names, or @yearly/@monthly/@weekly/@daily/
// @hourly; times in UTC. Pure.
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export class CronError extends Error {}

export interface Cron {
  minute: Set<number>;
  hour: Set<number>;
  dom: Set<number>;
  month: Set<number>;
  dow: Set<number>;
  domStar: boolean;
  dowStar: boolean;
}

function field(text: string, min: number, max: number, names?: string[]): Set<number> {
  const out = new Set<number>();
  const num = (s: string) => {
    const i = names ? names.indexOf(s.toLowerCase()) : -1;
    const n = i >= 0 ? i + (min === 1 ? 1 : 0) : Number(s);
    if (!Number.isInteger(n) || n < min || n > max + (names === DAYS ? 1 : 0))
      throw new CronError(`value "${s}" out of range ${min}-${max}`);
    return names === DAYS && n === 7 ? 0 : n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new CronError(`bad step in "${part}"`);
    let lo: number, hi: number;
    if (range === '*' || range === '?') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = num(a);
      hi = num(b);
      if (hi < lo) throw new CronError(`bad range "${range}"`);
    } else {
      lo = num(range);
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(spec: string): Cron {
  const text = MACROS[spec.trim()] ?? spec.trim();
  const f = text.split(/\s+/);
  if (f.length !== 5) throw new CronError(`expected 5 fields, found ${f.length}: "${spec}"`);
  return {
    minute: field(f[0], 0, 59),
    hour: field(f[1], 0, 23),
    dom: field(f[2], 1, 31),
    month: field(f[3], 1, 12, MONTHS),
    dow: field(f[4], 0, 6, DAYS),
    domStar: f[2] === '*' || f[2] === '?',
    dowStar: f[4] === '*' || f[4] === '?',
  };
}

export function matches(c: Cron, t: Date): boolean {
  if (!c.minute.has(t.getUTCMinutes()) || !c.hour.has(t.getUTCHours()) || !c.month.has(t.getUTCMonth() + 1))
    return false;
  const dom = c.dom.has(t.getUTCDate()),
    dow = c.dow.has(t.getUTCDay());
  // As in cron: when both day fields are restricted, either may match.
  if (!c.domStar && !c.dowStar) return dom || dow;
  return dom && dow;
}

/** Scheduled times in (after, upTo], oldest first, at most `limit` (the newest kept). */
export function scheduledBetween(c: Cron, afterMs: number, upToMs: number, limit = 100): number[] {
  const out: number[] = [];
  let t = Math.floor(afterMs / 60_000) * 60_000 + 60_000;
  // Bound the walk: more than a year of minutes is never needed to find the most recent ones.
  const start = Math.max(t, upToMs - 366 * 24 * 3600_000);
  for (t = start; t <= upToMs; t += 60_000) {
    if (matches(c, new Date(t))) {
      out.push(t);
      if (out.length > limit) out.shift();
    }
  }
  return out;
}

export function nextAfter(c: Cron, afterMs: number): number | null {
  let t = Math.floor(afterMs / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < 366 * 24 * 60; i++, t += 60_000) if (matches(c, new Date(t))) return t;
  return null;
}

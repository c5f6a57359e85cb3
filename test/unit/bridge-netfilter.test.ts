// ensureBridgeNetfilter as a table: what is read, loaded, set and said on a host with the
// setting on, off, missing and loadable, or missing for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRIDGE_NF_SYSCTL, ensureBridgeNetfilter } from '../../agent/overlay/bridge-netfilter.ts';

interface Row {
  name: string;
  /** The sysctl before, and after a successful modprobe. */
  before: string;
  loadable: boolean;
  /** A kernel before 5.3: the module loads, the setting stays absent outside the root namespace. */
  rootOnly?: boolean;
  passes: number;
  sets: number;
  modprobes: number;
  errors: number;
  warnings?: number;
  after: string;
}

const rows: Row[] = [
  { name: 'on: nothing done', before: '1', loadable: true, passes: 2, sets: 0, modprobes: 0, errors: 0, after: '1' },
  { name: 'off: turned on', before: '0', loadable: true, passes: 2, sets: 1, modprobes: 0, errors: 0, after: '1' },
  {
    name: 'missing, loadable: loaded once, then turned on',
    before: '',
    loadable: true,
    passes: 2,
    sets: 1,
    modprobes: 1,
    errors: 0,
    after: '1',
  },
  {
    name: 'missing for good: one try, one error, over three passes',
    before: '',
    loadable: false,
    passes: 3,
    sets: 0,
    modprobes: 1,
    errors: 1,
    after: '',
  },
  {
    name: 'loaded, but not per namespace (before Linux 5.3): one warning, no error',
    before: '',
    loadable: true,
    rootOnly: true,
    passes: 3,
    sets: 0,
    modprobes: 1,
    errors: 0,
    warnings: 1,
    after: '',
  },
];

for (const r of rows)
  test(`bridge netfilter: ${r.name}`, async () => {
    let value = r.before;
    let sets = 0,
      modprobes = 0,
      errors = 0,
      warnings = 0;
    const state = { tried: false };
    for (let i = 0; i < r.passes; i++)
      await ensureBridgeNetfilter(
        {
          read: (k) => (k === BRIDGE_NF_SYSCTL ? value : 'other'),
          set: (k, v) => {
            assert.equal(k, BRIDGE_NF_SYSCTL);
            sets++;
            value = v;
          },
          modprobe: async (m) => {
            assert.equal(m, 'br_netfilter');
            modprobes++;
            // A loaded module starts with the kernel's default, 1 (left at 0 here to see it set).
            if (r.loadable && !r.rootOnly) value = '0';
            return r.loadable;
          },
          log: (_m, level) => {
            if (level === 'error') errors++;
            if (level === 'warn') warnings++;
          },
        },
        state,
      );
    assert.deepEqual(
      { sets, modprobes, errors, warnings, after: value },
      {
        sets: r.sets,
        modprobes: r.modprobes,
        errors: r.errors,
        warnings: r.warnings ?? 0,
        after: r.after,
      },
    );
  });

// An object stored before a validation rule existed (written here straight into a real embedded
// store, as an older server would have) can still be updated: what it already had wrong is kept,
// and an update that adds anything wrong, or changes the wrong value to another wrong one, is a
// 422 naming only that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../../controlplane/store/embedded.ts';
import { ServiceAllocator } from '../../controlplane/allocator/service-allocator.ts';
import { Registry } from '../../controlplane/api/registry.ts';
import { RESOURCES } from '../../controlplane/api/resources.ts';
import { ApiError } from '../../controlplane/api/status.ts';
import { ctxFor } from '../../controlplane/controllers/pod-owner.ts';
import type { Obj } from '../../controlplane/shared/kube/object.ts';

const NODES = RESOURCES.find((r) => r.kind === 'Node')!;
const PUBLIC_IP = "metadata.annotations['skiff.io/public-ip']";
const VTEP_MAC = "metadata.annotations['skiff.io/vtep-mac']";

/** The fields a refused write names, or 'ok'. */
async function outcome(write: () => Promise<unknown>): Promise<string[] | 'ok'> {
  try {
    await write();
    return 'ok';
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    assert.equal(e.code, 422, e.message);
    return (e.details?.causes ?? []).map((c) => c.field ?? '');
  }
}

test('an object stored with a value a later rule refuses can be updated; nothing new wrong gets in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-'));
  const store = new EmbeddedStore(join(dir, 'db'));
  try {
    const reg = new Registry(store, new ServiceAllocator(store, '10.96.0.0/12', '30000-32767'));
    const ctx = ctxFor('test');
    const old: Obj = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'n1',
        uid: '0b1c5e4e-1111-4222-8333-944455556666',
        creationTimestamp: '2026-01-01T00:00:00Z',
        annotations: { 'skiff.io/public-ip': 'not-an-ip' },
      },
      spec: {},
      status: { addresses: [{ type: 'InternalIP', address: 'nowhere' }] },
    };
    await store.create(reg.key(NODES, undefined, 'n1'), JSON.stringify(old));
    const current = async () => reg.get(NODES, undefined, 'n1');
    const edit = async (f: (o: Obj) => void, sub?: string) => {
      const o = await current();
      f(o);
      return reg.update(NODES, undefined, 'n1', o, ctx, sub);
    };

    // A status write (as the node lifecycle controller makes) and a label change both pass.
    assert.equal(
      await outcome(() =>
        edit((o) => {
          o.status.conditions = [{ type: 'Ready', status: 'True' }];
        }, 'status'),
      ),
      'ok',
    );
    assert.equal(
      await outcome(() =>
        edit((o) => {
          o.metadata.labels = { zone: 'a' };
        }),
      ),
      'ok',
    );
    const kept = await current();
    assert.equal(kept.metadata.annotations['skiff.io/public-ip'], 'not-an-ip', 'kept as it was');
    assert.equal(kept.metadata.labels.zone, 'a');

    // Another wrong value for the same field, or a new wrong field: refused, naming only that.
    assert.deepEqual(
      await outcome(() =>
        edit((o) => {
          o.metadata.annotations['skiff.io/public-ip'] = 'still-not-an-ip';
        }),
      ),
      [PUBLIC_IP],
    );
    assert.deepEqual(
      await outcome(() =>
        edit((o) => {
          o.metadata.annotations['skiff.io/vtep-mac'] = 'zz';
        }),
      ),
      [VTEP_MAC],
    );
    assert.deepEqual(
      await outcome(() =>
        edit((o) => {
          o.status.addresses.push({ type: 'ExternalIP', address: 'nowhere-else' });
        }, 'status'),
      ),
      ['status.addresses[1].address'],
    );

    // Once made right, it cannot go back.
    assert.equal(
      await outcome(() =>
        edit((o) => {
          o.metadata.annotations['skiff.io/public-ip'] = '192.0.2.1';
        }),
      ),
      'ok',
    );
    assert.deepEqual(
      await outcome(() =>
        edit((o) => {
          o.metadata.annotations['skiff.io/public-ip'] = 'not-an-ip';
        }),
      ),
      [PUBLIC_IP],
    );
    // A create is checked in full.
    assert.deepEqual(
      await outcome(() =>
        reg.create(
          NODES,
          undefined,
          { ...old, metadata: { name: 'n2', annotations: { 'skiff.io/public-ip': 'not-an-ip' } } },
          ctx,
        ),
      ),
      [PUBLIC_IP, 'status.addresses[0].address'],
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

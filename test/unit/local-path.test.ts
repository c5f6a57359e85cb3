// The local-path provisioner's pure parts: which node a claim is provisioned on, the volume made
// for it, and the node a bound claim's volume pins a pod to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimNode, consumerNode, volumeFor } from '../../controlplane/controllers/local-path.ts';
import type { PersistentVolumeClaim, Pod, Stored } from '../../controlplane/shared/kube/index.ts';

const pvc: Stored<PersistentVolumeClaim> = {
  metadata: { name: 'data', namespace: 'ns', uid: 'u1', resourceVersion: '1', creationTimestamp: 't' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } }, storageClassName: 'local-path' },
};
const user = (node: string, claim = 'data', deleting = false): Pod => ({
  metadata: { name: `p-${node}`, namespace: 'ns', ...(deleting ? { deletionTimestamp: 't' } : {}) },
  spec: {
    nodeName: node,
    containers: [{ name: 'c' }],
    volumes: [{ name: 'v', persistentVolumeClaim: { claimName: claim } }],
  },
});

test('a claim goes to its selected node, else to the node of a live pod that uses it', () => {
  assert.equal(consumerNode(pvc, [user('n1', 'other'), user('n2', 'data', true), user('n3')]), 'n3');
  assert.equal(consumerNode(pvc, [user('n1', 'other')]), undefined, 'wait for the first consumer');
  const selected = {
    ...pvc,
    metadata: { ...pvc.metadata, annotations: { 'volume.kubernetes.io/selected-node': 'n9' } },
  };
  assert.equal(consumerNode(selected, [user('n3')]), 'n9');
});

test('the volume made for a claim lives on its node, and pins the claim there', () => {
  const pv = volumeFor(pvc, 'n3', 'Delete', '/var/lib/skiff/local-path');
  assert.equal(pv.metadata.name, 'pvc-u1');
  assert.equal(pv.spec.hostPath?.path, '/var/lib/skiff/local-path/pvc-u1_ns_data');
  assert.deepEqual(pv.spec.capacity, { storage: '2Gi' });
  assert.equal(pv.spec.claimRef?.uid, 'u1');
  assert.equal(claimNode({ spec: { volumeName: 'pvc-u1' } }, pv), 'n3');
  assert.equal(claimNode({ spec: {} }, pv), undefined, 'an unbound claim pins nothing');
});

// The push channel's messages: what the server encodes the agent decodes to the same typed event;
// a kind the agent does not know is skipped, a malformed message is refused with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type ChannelEvent,
  decodeEvent,
  encodeEvent,
  type NodeEventWire,
} from '../../controlplane/channel/messages.ts';

const svc = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7', creationTimestamp: 't' },
  spec: { ports: [{ port: 80 }] },
};

test('every event kind survives encode and decode', () => {
  const events: ChannelEvent[] = [
    { type: 'SNAPSHOT_BEGIN' },
    { type: 'UPSERT', kind: 'Service', namespace: 'default', name: 'web', resourceVersion: '7', object: svc },
    { type: 'DELETE', kind: 'Node', namespace: '', name: 'n1', resourceVersion: '8' },
    { type: 'SNAPSHOT_END', resourceVersion: '8' },
    { type: 'BOOKMARK', resourceVersion: '9' },
  ];
  for (const ev of events) assert.deepEqual(decodeEvent(encodeEvent(ev)), ev);
  const wire = encodeEvent(events[1]);
  assert.equal(wire.object_json, JSON.stringify(svc));
  assert.equal(encodeEvent(events[2]).object_json, '', 'a DELETE carries no object');
});

test('a kind the agent does not know is skipped; a malformed message is refused', () => {
  const base: NodeEventWire = {
    type: 'UPSERT',
    kind: 'Service',
    namespace: 'default',
    name: 'web',
    resource_version: '7',
    object_json: JSON.stringify(svc),
  };
  assert.equal(decodeEvent({ ...base, kind: 'Gateway' }), null);
  assert.throws(() => decodeEvent({ ...base, object_json: '[]' }), /Service default\/web carries no object/);
  assert.throws(() => decodeEvent({ ...base, object_json: '{' }), SyntaxError);
  assert.throws(() => decodeEvent({ ...base, name: '' }), /UPSERT of a Service without a name/);
  assert.throws(() => decodeEvent({ ...base, type: 'RESET' as NodeEventWire['type'] }), /unknown event type "RESET"/);
});

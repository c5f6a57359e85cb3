// The ingress metrics as text: counters per ingress/status/upstream with escaped labels, and
// cumulative histogram buckets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngressMetrics } from '../../agent/ingress/metrics.ts';

test('requests are counted per label set and latencies land in cumulative buckets', () => {
  const m = new IngressMetrics();
  m.request('ns/a', 200, '10.0.0.1:80', 0.0005);
  m.request('ns/a', 200, '10.0.0.1:80', 0.003);
  m.request('ns/a', 502, '10.0.0.1:80', 0.2);
  m.request('ns/"b"', 404, '', 100);
  const text = m.render();
  const line = (prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));
  assert.equal(
    line('skiff_ingress_requests_total{ingress="ns/a",status="200"'),
    'skiff_ingress_requests_total{ingress="ns/a",status="200",upstream="10.0.0.1:80"} 2',
  );
  assert.ok(line('skiff_ingress_requests_total{ingress="ns/\\"b\\"",status="404",upstream=""} 1'));
  const bucket = (ing: string, le: string) =>
    line(`skiff_ingress_request_duration_seconds_bucket{ingress="${ing}",le="${le}"}`)?.split(' ')[1];
  assert.deepEqual(
    ['0.001', '0.0025', '0.005', '0.1', '0.25', '60', '+Inf'].map((le) => bucket('ns/a', le)),
    ['1', '1', '2', '2', '3', '3', '3'],
  );
  assert.equal(bucket('ns/\\"b\\"', '60'), '0', 'over the last bound: only +Inf');
  assert.equal(bucket('ns/\\"b\\"', '+Inf'), '1');
  assert.equal(
    line('skiff_ingress_request_duration_seconds_count{ingress="ns/a"}'),
    'skiff_ingress_request_duration_seconds_count{ingress="ns/a"} 3',
  );
});

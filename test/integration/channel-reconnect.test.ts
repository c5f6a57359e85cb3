// The agent's push channel redials once per failed call, with back-off: grpc-js both ends the stream
// and reports its error status, and answering both would open two Watch streams (each a full
// snapshot on the server) and double with every failure. A real gRPC client against a port where
// nothing listens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelClient } from '../../agent/channel.ts';
import { until } from '../helpers/sandbox.ts';

test('a failed channel call is redialled once, after 0.5, 1 and 2 s', async () => {
  const c = new ChannelClient('127.0.0.1:1', '', 'token', 'node1', () => {});
  const started = Date.now();
  try {
    c.start();
    await until('the fourth dial', async () => c.connects >= 4, 15_000);
    const took = Date.now() - started;
    // Three back-offs (0.5 + 1 + 2 s) lie before the fourth dial; a double redial gets there sooner.
    assert.ok(took >= 3_300, `the fourth dial came after ${took} ms`);
  } finally {
    c.stop();
  }
});

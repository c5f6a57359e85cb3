// The pod network across nodes with the host-gw backend: see test/helpers/overlay-suite.ts.
import { overlaySuite } from '../helpers/overlay-suite.ts';
import { e2eSandbox } from '../helpers/sandbox.ts';

overlaySuite('host-gw', e2eSandbox('ovlhg'));

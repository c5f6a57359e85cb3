// The pod network across nodes with the host-gw backend: see test/helpers/overlay-suite.ts.
import { overlaySuite } from '../helpers/overlay-suite.ts';

overlaySuite('host-gw', 'ovlhg');

// The pod network across nodes with the VXLAN backend (the default): see test/helpers/overlay-suite.ts.
import { overlaySuite } from '../helpers/overlay-suite.ts';
import { e2eSandbox } from '../helpers/sandbox.ts';

overlaySuite('vxlan', e2eSandbox('ovl'));

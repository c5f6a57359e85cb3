// Bridged replies must pass conntrack. A pod that reaches a Service whose endpoint sits on the
// same node's bridge gets the endpoint's reply straight over the bridge (layer 2), past the IP
// hooks where conntrack would undo the DNAT: the client sees the endpoint's address instead of
// the ClusterIP and resets. br_netfilter hands bridged IPv4 frames to the ip hooks when
// net.bridge.bridge-nf-call-iptables is 1 (a per-network-namespace setting); Debian's kernel
// builds it as a module that nothing loads by default.
import type { Log } from '../../controlplane/shared/log.ts';

export const BRIDGE_NF_SYSCTL = 'net/bridge/bridge-nf-call-iptables';

/** What the check needs from the host (the overlay's sysctl helpers and a modprobe). */
export interface BridgeNetfilterHost {
  /** The sysctl's value, or '' when it does not exist (br_netfilter not loaded). */
  read(key: string): string;
  set(key: string, value: string): void;
  /** Loads a kernel module; resolves false when it could not. */
  modprobe(module: string): Promise<boolean>;
  log: Log;
}

/**
 * Makes bridged IPv4 frames pass the ip hooks in this namespace. Tries to load the module once
 * per agent (`state.tried`); says once when it cannot, since same-node Service traffic then fails.
 */
export async function ensureBridgeNetfilter(h: BridgeNetfilterHost, state: { tried: boolean }): Promise<void> {
  let value = h.read(BRIDGE_NF_SYSCTL);
  if (value === '' && !state.tried) {
    state.tried = true;
    const loaded = await h.modprobe('br_netfilter');
    if (loaded) value = h.read(BRIDGE_NF_SYSCTL);
    if (loaded && value === '') {
      // Before Linux 5.3 the net.bridge settings exist in the root namespace only, and apply to all.
      h.log(
        "overlay: loaded br_netfilter; this kernel has no net.bridge settings in this agent's network namespace " +
          "(before Linux 5.3): the root namespace's bridge-nf-call-iptables applies",
        'warn',
      );
      return;
    }
    if (value === '') {
      h.log(
        'overlay: br_netfilter is not loaded and could not be loaded (modprobe br_netfilter): a pod cannot ' +
          'reach an endpoint on its own node through a Service',
        'error',
      );
      return;
    }
    h.log('overlay: loaded br_netfilter');
  }
  if (value !== '' && value !== '1') h.set(BRIDGE_NF_SYSCTL, '1');
}

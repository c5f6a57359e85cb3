// Installs the Skiff CNI plugin (a wrapper that runs it on the pinned Node) and the `loopback`
// plugin containerd 1.6 always calls into the node's CNI bin dir, and writes the conflist.
import { chmodSync, copyFileSync, mkdirSync, renameSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetworkConfigList, SkiffPluginConfig } from '../../cni/types.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CniSettings {
  podCidr: string;
  mtu: number;
  bridge: string;
  dataDir: string;
  subnetFile?: string;
}

export function renderConflist(s: CniSettings): string {
  const plugin: SkiffPluginConfig = {
    type: 'skiff',
    bridge: s.bridge,
    subnet: s.podCidr,
    mtu: s.mtu,
    dataDir: s.dataDir,
    ...(s.subnetFile ? { subnetFile: s.subnetFile } : {}),
    hairpinMode: true,
    capabilities: { portMappings: true },
  };
  const list: NetworkConfigList = { cniVersion: '1.0.0', name: 'skiff', plugins: [plugin] };
  return JSON.stringify(list, null, 2);
}

function wrapper(cacheDir: string): string {
  return (
    `#!/bin/sh
# Installed by skiff agent: the Skiff CNI plugin on the Node Skiff pins. The compile cache
# roughly halves the plugin's start-up, which every pod pays.
NODE_COMPILE_CACHE=${cacheDir} exec ${join(ROOT, 'node_modules/.bin/node')} ` +
    `--disable-warning=ExperimentalWarning ${join(ROOT, 'cni/main.ts')}
`
  );
}

/**
 * Installs the plugin. With `socket`, the `skiff` binary is the small C client that asks the
 * agent (cni-server.ts) and falls back to the standalone plugin (`skiff-node`) when the agent is
 * not there; without a C compiler, the standalone plugin is installed as `skiff` directly.
 */
export function installCni(binDir: string, confDir: string, s: CniSettings, socket?: string): void {
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  const standalone = wrapper(join(s.dataDir, '..', 'node-compile-cache'));
  writeFileSync(join(binDir, 'skiff-node'), standalone, { mode: 0o755 });
  let client = false;
  if (socket) {
    const r = spawnSync(
      'gcc',
      [
        '-static',
        '-Os',
        '-s',
        `-DSOCKET="${socket}"`,
        `-DFALLBACK="${join(binDir, 'skiff-node')}"`,
        '-o',
        join(binDir, 'skiff.tmp'),
        join(ROOT, 'cni/client.c'),
      ],
      { encoding: 'utf8' },
    );
    if (r.status === 0) {
      renameSync(join(binDir, 'skiff.tmp'), join(binDir, 'skiff'));
      client = true;
    }
  }
  if (!client) writeFileSync(join(binDir, 'skiff'), standalone, { mode: 0o755 });
  copyFileSync(join(ROOT, 'cni/bin/loopback'), join(binDir, 'loopback'));
  chmodSync(join(binDir, 'loopback'), 0o755);
  // Only our network: a stale conflist from another plugin would win by name order.
  for (const f of readdirSync(confDir)) if (f !== '10-skiff.conflist') rmSync(join(confDir, f), { force: true });
  writeFileSync(join(confDir, '10-skiff.conflist'), renderConflist(s));
}

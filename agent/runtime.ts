// A node's container runtime, ready for pods: its own containerd (or an existing socket), the
// CNI plugin and conflist installed, and the built-in images imported.
import { execa } from 'execa';
import { join } from 'node:path';
import { ContainerdSupervisor } from './containerd/supervisor.ts';
import { CriClient } from './cri/client.ts';
import { installCni } from './network/cni-install.ts';
import { startCniServer } from './network/cni-server.ts';
import { builtinImagesTar, PAUSE_IMAGE, BUSYBOX_IMAGE, BUSYBOX_LATEST } from './images/builtin.ts';

export interface RuntimeOptions {
  dataDir: string;
  podCidr: string;
  mtu?: number;
  /** The overlay's subnet.env: the CNI plugin's STATUS is "not ready" until it exists. */
  subnetFile?: string;
  imageCache: string;
  /** Use this containerd socket instead of starting one. */
  endpoint?: string;
  wrap?: string[];
  log?: (line: string) => void;
}

export interface NodeRuntime {
  cri: CriClient;
  socket: string;
  supervisor: ContainerdSupervisor | null;
  stop(): Promise<void>;
}

export async function importImages(socket: string, tarFile: string, cri: CriClient): Promise<void> {
  const missing = [];
  for (const img of [PAUSE_IMAGE, BUSYBOX_IMAGE, BUSYBOX_LATEST])
    if (!(await cri.imageStatus(img)).image) missing.push(img);
  if (!missing.length) return;
  const r = await execa('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', tarFile], { reject: false });
  if (r.exitCode !== 0) throw new Error(`importing built-in images failed: ${r.stderr}`);
}

export async function startRuntime(o: RuntimeOptions): Promise<NodeRuntime> {
  const dir = join(o.dataDir, 'containerd');
  let supervisor: ContainerdSupervisor | null = null;
  let socket = o.endpoint?.replace(/^unix:\/\//, '') ?? '';
  const cniBin = join(o.dataDir, 'cni', 'bin'),
    cniConf = join(o.dataDir, 'cni', 'conf');
  if (!socket) {
    socket = join(dir, 'containerd.sock');
    supervisor = new ContainerdSupervisor(
      dir,
      {
        root: join(dir, 'root'),
        state: join(dir, 'state'),
        socket,
        runcRoot: join(dir, 'runc'),
        cniBin,
        cniConf,
        registryConfig: join(dir, 'certs.d'),
        sandboxImage: PAUSE_IMAGE,
      },
      o.wrap ?? [],
    );
    supervisor.onLog = o.log ?? (() => {});
  }
  // The plugin's code runs in this process behind a socket when the caller is in the node's
  // network namespace (the agent); a test wrapping containerd in nsenter uses the standalone one.
  const cniSocket = o.wrap?.length ? undefined : join(o.dataDir, 'cni', 'cni.sock');
  const cniServer = cniSocket ? await startCniServer(cniSocket) : null;
  installCni(
    cniBin,
    cniConf,
    {
      podCidr: o.podCidr,
      mtu: o.mtu ?? 1500,
      bridge: 'skiff0',
      dataDir: join(o.dataDir, 'cni', 'ipam'),
      subnetFile: o.subnetFile,
    },
    cniSocket,
  );
  await supervisor?.start();
  const cri = new CriClient(socket);
  await importImages(socket, await builtinImagesTar(o.imageCache), cri);
  return {
    cri,
    socket,
    supervisor,
    async stop() {
      cri.close();
      cniServer?.close();
      await supervisor?.stop();
    },
  };
}

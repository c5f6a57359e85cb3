// A CRI v1 client over gRPC on containerd's unix socket (@grpc/grpc-js + proto-loader, with
// the .proto subset in this folder). Each method is a promise; errors keep gRPC's code.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { Obj } from '../../controlplane/shared/kube/object.ts';

const PROTO = fileURLToPath(new URL('./api.proto', import.meta.url));
// SKIFF_TRACE_CRI=1: every CRI call's duration on stderr (for finding where pod start time goes).
const TRACE = !!process.env.SKIFF_TRACE_CRI;

let pkg: Obj | null = null;
function load(): Obj {
  if (!pkg) {
    const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    pkg = (grpc.loadPackageDefinition(def) as Obj).runtime.v1;
  }
  return pkg!;
}

/** runtime.v1.StatusResponse (the parts the agent reads): RuntimeReady and NetworkReady. */
export interface StatusResponse {
  status?: { conditions?: { type: string; status: boolean; reason: string; message: string }[] };
}

export class CriError extends Error {
  readonly grpcCode: number;
  constructor(method: string, e: grpc.ServiceError) {
    super(`CRI ${method}: ${e.details || e.message}`);
    this.grpcCode = e.code;
  }
}

export class CriClient {
  private rt: grpc.Client;
  private img: grpc.Client;
  readonly endpoint: string;
  constructor(socket: string) {
    const p = load();
    this.endpoint = socket.startsWith('unix://') ? socket : `unix://${socket}`;
    const opts = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.rt = new p.RuntimeService(this.endpoint, grpc.credentials.createInsecure(), opts);
    this.img = new p.ImageService(this.endpoint, grpc.credentials.createInsecure(), opts);
  }

  private call<T = Obj>(client: grpc.Client, method: string, req: Obj, timeoutMs = 30_000): Promise<T> {
    const started = TRACE ? performance.now() : 0;
    return new Promise((resolve, reject) => {
      (client as unknown as Record<string, (...args: unknown[]) => void>)[method](
        req,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res: T) => {
          if (TRACE)
            console.error(`cri ${method} ${(performance.now() - started).toFixed(1)} ms${err ? ' (error)' : ''}`);
          if (err) reject(new CriError(method, err));
          else resolve(res);
        },
      );
    });
  }

  version() {
    return this.call(this.rt, 'Version', { version: 'v1' }, 5_000);
  }
  status() {
    return this.call<StatusResponse>(this.rt, 'Status', { verbose: false }, 5_000);
  }
  runPodSandbox(config: Obj, runtimeHandler = '') {
    return this.call<{ pod_sandbox_id: string }>(
      this.rt,
      'RunPodSandbox',
      { config, runtime_handler: runtimeHandler },
      120_000,
    );
  }
  stopPodSandbox(id: string) {
    return this.call(this.rt, 'StopPodSandbox', { pod_sandbox_id: id }, 120_000);
  }
  removePodSandbox(id: string) {
    // As long as Run and Stop (the kubelet's runtime request timeout is 2 minutes for all three):
    // removing may tear the network down again, and a burst of CNI DELs queues on IPAM's lock.
    return this.call(this.rt, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000);
  }
  podSandboxStatus(id: string) {
    return this.call(this.rt, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: false });
  }
  listPodSandbox(filter: Obj = {}) {
    return this.call<{ items: Obj[] }>(this.rt, 'ListPodSandbox', { filter });
  }
  createContainer(podSandboxId: string, config: Obj, sandboxConfig: Obj) {
    return this.call<{ container_id: string }>(
      this.rt,
      'CreateContainer',
      { pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig },
      120_000,
    );
  }
  startContainer(id: string) {
    return this.call(this.rt, 'StartContainer', { container_id: id }, 120_000);
  }
  stopContainer(id: string, timeoutSec: number) {
    return this.call(this.rt, 'StopContainer', { container_id: id, timeout: timeoutSec }, (timeoutSec + 30) * 1000);
  }
  removeContainer(id: string) {
    return this.call(this.rt, 'RemoveContainer', { container_id: id }, 60_000);
  }
  listContainers(filter: Obj = {}) {
    return this.call<{ containers: Obj[] }>(this.rt, 'ListContainers', { filter });
  }
  containerStatus(id: string) {
    return this.call(this.rt, 'ContainerStatus', { container_id: id, verbose: false });
  }
  execSync(id: string, cmd: string[], timeoutSec = 10) {
    return this.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(
      this.rt,
      'ExecSync',
      { container_id: id, cmd, timeout: timeoutSec },
      (timeoutSec + 10) * 1000,
    );
  }
  exec(req: { container_id: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }) {
    return this.call<{ url: string }>(this.rt, 'Exec', req, 10_000);
  }
  attach(req: { container_id: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }) {
    return this.call<{ url: string }>(this.rt, 'Attach', req, 10_000);
  }
  portForward(podSandboxId: string, port: number) {
    return this.call<{ url: string }>(this.rt, 'PortForward', { pod_sandbox_id: podSandboxId, port: [port] }, 10_000);
  }
  reopenContainerLog(id: string) {
    return this.call(this.rt, 'ReopenContainerLog', { container_id: id }, 10_000);
  }
  listImages() {
    return this.call<{ images: Obj[] }>(this.img, 'ListImages', { filter: {} });
  }
  imageStatus(image: string) {
    return this.call<{ image: Obj | null }>(this.img, 'ImageStatus', { image: { image }, verbose: false });
  }
  pullImage(image: string, sandboxConfig?: Obj) {
    return this.call<{ image_ref: string }>(
      this.img,
      'PullImage',
      { image: { image }, sandbox_config: sandboxConfig },
      300_000,
    );
  }
  removeImage(image: string) {
    return this.call(this.img, 'RemoveImage', { image: { image } });
  }

  close() {
    this.rt.close();
    this.img.close();
  }
}

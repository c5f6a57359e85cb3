// Task exits as containerd reports them (its events API), so the kubelet reacts to a container
// ending at once instead of at its next one-second relist. Reconnects when containerd restarts.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import type { Obj } from '../../controlplane/shared/kube/object.ts';

const PROTO = fileURLToPath(new URL('./events.proto', import.meta.url));

export interface TaskExit {
  containerId: string;
  execId: string;
  exitStatus: number;
}

let cached: { Events: grpc.ServiceClientConstructor; TaskExit: protobuf.Type } | null = null;
function load() {
  if (!cached) {
    const def = loader.loadSync(PROTO, { keepCase: true, longs: String, defaults: true });
    const pkg = (grpc.loadPackageDefinition(def) as Obj).containerd.services.events.v1;
    const root = protobuf.loadSync(PROTO); // (field names camelCased)
    cached = { Events: pkg.Events, TaskExit: root.lookupType('containerd.services.events.v1.TaskExit') };
  }
  return cached;
}

/** Decodes the event of a /tasks/exit envelope. */
export function decodeTaskExit(value: Uint8Array): TaskExit {
  const m = load().TaskExit.toObject(load().TaskExit.decode(value), { defaults: true }) as Obj;
  return { containerId: m.containerId, execId: m.id, exitStatus: Number(m.exitStatus) };
}

export class TaskExitWatcher {
  private client: grpc.Client;
  private call: grpc.ClientReadableStream<Obj> | null = null;
  private stopped = false;
  private onExit: (e: TaskExit) => void;
  private log: (s: string) => void;
  private namespace: string;

  constructor(socket: string, onExit: (e: TaskExit) => void, log: (s: string) => void, namespace = 'k8s.io') {
    const { Events } = load();
    this.client = new Events(`unix://${socket.replace(/^unix:\/\//, '')}`, grpc.credentials.createInsecure());
    this.onExit = onExit;
    this.log = log;
    this.namespace = namespace;
  }

  start() {
    if (this.stopped) return;
    const call = (this.client as unknown as { Subscribe(req: Obj): grpc.ClientReadableStream<Obj> }).Subscribe({
      filters: [`namespace==${this.namespace},topic=="/tasks/exit"`],
    });
    this.call = call;
    call.on('data', (env: Obj) => {
      if (env.topic !== '/tasks/exit' || !env.event?.value) return;
      try {
        this.onExit(decodeTaskExit(env.event.value));
      } catch (e) {
        this.log(`containerd events: ${(e as Error).message}`);
      }
    });
    const again = () => {
      if (this.stopped || this.call !== call) return;
      this.call = null;
      setTimeout(() => this.start(), 1000);
    };
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) this.log(`containerd events: ${e.details || e.message}; resubscribing`);
      again();
    });
    call.on('end', again);
  }

  stop() {
    this.stopped = true;
    this.call?.cancel();
    this.client.close();
  }
}

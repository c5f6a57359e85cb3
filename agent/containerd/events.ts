// Task exits as containerd reports them (its events API), so the kubelet reacts to a container
// ending at once instead of at its next one-second relist. Reconnects when containerd restarts.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('./events.proto', import.meta.url));

export interface TaskExit {
  containerId: string;
  execId: string;
  exitStatus: number;
}

/** containerd.services.events.v1.Envelope as proto-loader gives it; `event` is a google.protobuf.Any. */
interface Envelope {
  timestamp?: unknown;
  namespace: string;
  topic: string;
  event?: { type_url: string; value: Buffer } | null;
}

interface EventsClient extends grpc.Client {
  Subscribe(req: { filters: string[] }): grpc.ClientReadableStream<Envelope>;
}

type EventsCtor = new (address: string, creds: grpc.ChannelCredentials) => EventsClient;

let cached: { Events: EventsCtor; TaskExit: protobuf.Type } | null = null;
function load() {
  if (!cached) {
    const def = loader.loadSync(PROTO, { keepCase: true, longs: String, defaults: true });
    // The service events.proto declares, whose Subscribe this file describes.
    const pkg = (grpc.loadPackageDefinition(def) as unknown as { containerd: { services: { events: { v1: object } } } })
      .containerd.services.events.v1 as { Events: EventsCtor };
    const types = protobuf.loadSync(PROTO); // (field names camelCased)
    cached = { Events: pkg.Events, TaskExit: types.lookupType('containerd.services.events.v1.TaskExit') };
  }
  return cached;
}

/** Decodes the event of a /tasks/exit envelope. */
export function decodeTaskExit(value: Uint8Array): TaskExit {
  const m = load().TaskExit.toObject(load().TaskExit.decode(value), { defaults: true }) as {
    containerId: string;
    id: string;
    exitStatus: number;
  };
  return { containerId: m.containerId, execId: m.id, exitStatus: Number(m.exitStatus) };
}

export class TaskExitWatcher {
  private client: EventsClient;
  private call: grpc.ClientReadableStream<Envelope> | null = null;
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
    const call = this.client.Subscribe({
      filters: [`namespace==${this.namespace},topic=="/tasks/exit"`],
    });
    this.call = call;
    call.on('data', (env: Envelope) => {
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

// Events (core/v1) for what controllers and the scheduler do, as `kubectl describe` shows them.
// The same (object, type, reason, message) is one Event whose count and lastTimestamp grow.
import { kubeTime } from '../api/time.ts';
import { createHash } from 'node:crypto';
import { RESOURCES } from '../api/resources.ts';
import type { Ctx, Registry } from '../api/registry.ts';
import { ApiError } from '../api/status.ts';
import type { Event, KubeObject, Obj } from '../shared/kube/index.ts';

const EVENTS = RESOURCES.find((r) => r.kind === 'Event')!;

export class EventRecorder {
  private reg: Registry;
  private component: string;
  private ctx: Ctx;

  constructor(reg: Registry, component: string) {
    this.reg = reg;
    this.component = component;
    this.ctx = {
      user: `system:${component}`,
      manager: component,
      dryRun: false,
      fieldValidation: 'Ignore',
      warnings: [],
    };
  }

  async record(obj: KubeObject | Obj, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace || 'default';
    const id = createHash('sha256')
      .update(`${obj.metadata.uid}/${type}/${reason}/${message}`)
      .digest('hex')
      .slice(0, 16);
    const name = `${obj.metadata.name}.${id}`;
    try {
      for (let i = 0; i < 3; i++) {
        let cur: Event | null = null;
        try {
          cur = (await this.reg.get(EVENTS, ns, name)) as Event;
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
        try {
          if (cur)
            await this.reg.update(
              EVENTS,
              ns,
              name,
              { ...cur, count: (cur.count ?? 1) + 1, lastTimestamp: kubeTime() },
              this.ctx,
            );
          else {
            await this.reg.create(
              EVENTS,
              ns,
              {
                apiVersion: 'v1',
                kind: 'Event',
                metadata: { name, namespace: ns },
                involvedObject: {
                  kind: obj.kind,
                  namespace: obj.metadata.namespace,
                  name: obj.metadata.name,
                  uid: obj.metadata.uid,
                  apiVersion: obj.apiVersion,
                  resourceVersion: obj.metadata.resourceVersion,
                },
                type,
                reason,
                message,
                count: 1,
                firstTimestamp: kubeTime(),
                lastTimestamp: kubeTime(),
                source: { component: this.component },
                reportingComponent: this.component,
                reportingInstance: this.component,
              },
              this.ctx,
            );
          }
          return;
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 409)) throw e;
        }
      }
    } catch (e) {
      // An event that cannot be written must not fail the controller's work.
      if (!(e instanceof ApiError)) throw e;
    }
  }
}

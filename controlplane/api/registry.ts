// The object layer between HTTP and the store: Kubernetes object semantics (names, uids,
// resourceVersion conflicts, generation, defaulting, validation, finalizers, deletion,
// managedFields) for every resource. What a kind does its own way (a Service's allocations, a
// Pod's graceful deletion, a Namespace's finalize step, ...) is its strategy's (strategies/).
import { randomBytes, randomUUID } from 'node:crypto';
import { StoreError, type KeyValue, type Store, type WatchHandle } from '../store/store.ts';
import type { ServiceAllocator } from '../allocator/service-allocator.ts';
import { groupVersion, type Resource } from './resources.ts';
import {
  ApiError,
  type Cause,
  Errs,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  gone,
  internal,
  invalid,
  notFound,
} from './status.ts';
import { applyDefaults } from './defaults.ts';
import { validateKind, validateMeta } from './validate.ts';
import { ratchet } from './ratchet.ts';
import { checkSchema, pruneUnknown, type FieldProblem } from './schema/check.ts';
import { matchFields, type FieldReq } from './selectors.ts';
import { formatLabelSelector, matchRequirements, type Requirement } from '../shared/labels.ts';
import { serverSideApply, trackUpdate } from './apply.ts';
import { applyJsonPatch, applyMergePatch, strategicMerge, PatchError } from './patch.ts';
import type { Obj } from '../shared/kube/object.ts';
import { bulkSlots, pageSize, SLICE_BYTES } from './pace.ts';
import { validateEphemeralContainers, withEphemeralContainers } from './ephemeral.ts';
import { strategyFor, type Allocators, type Strategy } from './strategies/index.ts';
import { assignNode, bindingTarget } from './strategies/pod.ts';
import type { Pod } from '../shared/kube/index.ts';

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface Ctx {
  user: string;
  /** Manager name for managedFields. */
  manager: string;
  dryRun: boolean;
  fieldValidation: 'Strict' | 'Warn' | 'Ignore';
  warnings: string[];
}

export interface ListOpts {
  labels: Requirement[];
  fields: FieldReq[];
  limit?: number;
  continueToken?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface DeleteOpts {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function nameOf(o: Obj): string {
  return o?.metadata?.name ?? '';
}

/** A kind's strategy, over the untyped objects the registry handles. */
const strategy = (res: Resource) => strategyFor(res.kind) as Strategy<Obj>;

export class Registry {
  readonly store: Store;
  /** What strategies allocate from (a Service's ClusterIP and NodePorts). */
  private readonly allocators: Allocators;
  constructor(store: Store, alloc: ServiceAllocator) {
    this.store = store;
    this.allocators = { service: alloc };
  }

  // ---- keys and encoding ----
  prefix(res: Resource, ns?: string): string {
    const base = `/registry/${res.group || 'core'}/${res.plural}/`;
    return res.namespaced && ns ? `${base}${ns}/` : base;
  }
  key(res: Resource, ns: string | undefined, name: string): string {
    return this.prefix(res, res.namespaced ? ns : undefined) + name;
  }
  decode(res: Resource, kv: KeyValue): Obj {
    const o = JSON.parse(kv.value);
    o.apiVersion = groupVersion(res);
    o.kind = res.kind;
    o.metadata.resourceVersion = String(kv.modRevision);
    return o;
  }
  private encode(o: Obj): string {
    const copy = { ...o, metadata: { ...o.metadata } };
    delete copy.metadata.resourceVersion;
    return JSON.stringify(copy);
  }

  // ---- reads ----
  async getKv(res: Resource, ns: string | undefined, name: string): Promise<KeyValue> {
    const kv = await this.store.get(this.key(res, ns, name));
    if (!kv) throw notFound(res, name);
    return kv;
  }
  async get(res: Resource, ns: string | undefined, name: string): Promise<Obj> {
    return this.decode(res, await this.getKv(res, ns, name));
  }

  async list(
    res: Resource,
    ns: string | undefined,
    opts: ListOpts,
    /** When given, items are handed over page by page (and not returned) as they are read. */
    sink?: (items: Obj[]) => Promise<void>,
  ): Promise<{ items: Obj[]; resourceVersion: string; continue?: string; remaining?: number }> {
    let revision = 0;
    let startKey: string | undefined;
    const prefix = this.prefix(res, ns);
    if (opts.continueToken) {
      let tok: { rv: number; start: string };
      try {
        tok = JSON.parse(Buffer.from(opts.continueToken, 'base64').toString());
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      if (
        !Number.isSafeInteger(tok?.rv) ||
        tok.rv < 0 ||
        typeof tok.start !== 'string' ||
        !tok.start.startsWith(prefix)
      )
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      revision = tok.rv;
      startKey = tok.start;
      if (revision < (await this.store.compactedRevision()))
        throw gone(
          'The provided continue parameter is too old to display a consistent list result. ' +
            'You can start a new list without the continue parameter.',
        );
    } else if (opts.resourceVersion && opts.resourceVersion !== '0') {
      const rv = parseResourceVersion(opts.resourceVersion);
      if (opts.resourceVersionMatch === 'Exact') {
        if (rv < (await this.store.compactedRevision()))
          throw gone(`too old resource version: ${rv} (${await this.store.compactedRevision()})`);
        revision = rv;
      } else if (rv > (await this.store.currentRevision())) {
        throw new ApiError(
          504,
          'Timeout',
          `Too large resource version: ${rv}, current: ${await this.store.currentRevision()}`,
        );
      }
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const items: Obj[] = [];
    let count = 0;
    let next: string | undefined = startKey;
    let atRev = revision;
    let more = false;
    let avg = 0;
    const filtering = opts.labels.length > 0 || opts.fields.length > 0;
    for (;;) {
      let chunk = limit ? Math.max(limit - count, filtering ? 500 : 0) : 0;
      // Streaming: store pages of about a slice each, handed to the sink as they are read.
      if (sink) chunk = chunk ? Math.min(chunk, pageSize(avg)) : pageSize(avg);
      const page = await this.store
        .list(prefix, { revision: atRev, limit: chunk || undefined, startKey: next })
        .catch((e) => {
          if (e instanceof StoreError && e.code === 'Compacted')
            throw gone(`The resourceVersion for the provided list is too old: ${e.message}`);
          throw e;
        });
      atRev = page.revision;
      let lastKey: string | undefined;
      let bytes = 0;
      for (const kv of page.items) {
        lastKey = kv.key;
        bytes += kv.value.length;
        const o = this.decode(res, kv);
        if (!matchRequirements(opts.labels, o.metadata.labels) || !matchFields(opts.fields, o)) continue;
        items.push(o);
        count++;
        if (limit && count === limit) {
          const rest = page.items.indexOf(kv) < page.items.length - 1 || page.more;
          if (rest) {
            more = true;
            next = kv.key + '\u0000';
          }
          break;
        }
      }
      if (page.items.length) avg = bytes / page.items.length;
      if (sink && items.length) await sink(items.splice(0, items.length));
      if (more || !page.more || (limit && count === limit)) break;
      next = lastKey + '\u0000';
    }
    const out: { items: Obj[]; resourceVersion: string; continue?: string; remaining?: number } = {
      items,
      resourceVersion: String(atRev),
    };
    if (more && next) {
      out.continue = Buffer.from(JSON.stringify({ rv: atRev, start: next })).toString('base64');
      if (!filtering) out.remaining = await this.store.count(prefix, next);
    }
    return out;
  }

  // ---- helpers ----
  private async checkNamespace(res: Resource, ns: string | undefined, creating: boolean) {
    if (!res.namespaced || !ns) return;
    const kv = await this.store.get(`/registry/core/namespaces/${ns}`);
    if (!kv) throw notFound({ kind: 'Namespace', group: '', plural: 'namespaces' }, ns);
    if (creating && JSON.parse(kv.value).metadata?.deletionTimestamp)
      throw forbidden(
        `${res.plural} "${''}" is forbidden: unable to create new content in namespace ${ns} ` +
          `because it is being terminated`,
      );
  }

  /** Structural checks (unknown fields, types), honouring fieldValidation. */
  private structural(res: Resource, body: Obj, ctx: Ctx): Obj {
    const problems: FieldProblem[] = [];
    checkSchema(body, res.schema, '', problems);
    const types = problems.filter((p) => p.kind === 'type');
    const unknown = problems.filter((p) => p.kind === 'unknown');
    if (types.length)
      throw invalid(
        res,
        nameOf(body),
        types.map((p) => ({ field: p.path, message: p.message, reason: 'FieldValueTypeInvalid' })),
      );
    if (unknown.length) {
      if (ctx.fieldValidation === 'Strict') {
        throw new ApiError(400, 'BadRequest', `strict decoding error: ${unknown.map((u) => u.message).join(', ')}`);
      }
      if (ctx.fieldValidation === 'Warn') for (const u of unknown) ctx.warnings.push(u.message);
      return pruneUnknown(body, res.schema) as Obj;
    }
    return body;
  }

  private checkTypeMeta(res: Resource, body: Obj) {
    // JSON.stringify, not a template: a client's object may carry its own toString.
    const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 200);
    if (body.apiVersion !== undefined && body.apiVersion !== groupVersion(res))
      throw badRequest(
        `the API version in the data (${show(body.apiVersion)}) does not match the expected API version ` +
          `(${groupVersion(res)})`,
      );
    if (body.kind !== undefined && body.kind !== res.kind)
      throw badRequest(`the kind in the data (${show(body.kind)}) does not match the expected kind (${res.kind})`);
  }

  private validate(res: Resource, o: Obj, old?: Obj) {
    let list = problems(res, o, old);
    // What the stored object already had wrong, untouched, does not fail an update (ratchet.ts).
    if (old && list.length) list = ratchet(list, problems(res, old), old, o);
    if (list.length) throw invalid(res, nameOf(o) || o.metadata?.generateName || '', list);
  }

  // ---- create ----
  async create(
    res: Resource,
    ns: string | undefined,
    input: unknown,
    ctx: Ctx,
    applied?: { managedFields: Obj[] },
  ): Promise<Obj> {
    if (!isObj(input)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(input)?.slice(0, 100)}'`);
    this.checkTypeMeta(res, input);
    const body = this.structural(res, structuredClone(input), ctx);
    const meta: Obj = (body.metadata = isObj(body.metadata) ? body.metadata : {});
    if (res.namespaced) {
      if (meta.namespace && ns && meta.namespace !== ns)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = ns ?? meta.namespace;
    } else delete meta.namespace;
    if (meta.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    body.apiVersion = groupVersion(res);
    body.kind = res.kind;
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    if (res.generation) meta.generation = 1;
    else delete meta.generation;
    const strat = strategy(res);
    strat.prepareForCreate(body, res);
    applyDefaults(res.kind, body);
    strat.canonicalize(body);
    this.validate(res, body);
    await this.checkNamespace(res, meta.namespace, true);
    if (applied) meta.managedFields = applied.managedFields;
    else trackUpdate(null, body, res.schema, { manager: ctx.manager, apiVersion: groupVersion(res), now: now() });
    if (await this.store.get(this.key(res, meta.namespace, meta.name))) throw alreadyExists(res, meta.name);
    if (ctx.dryRun) return body;
    const reserved = await strat.reserve(body, null, this.allocators);
    try {
      const kv = await this.store.create(this.key(res, meta.namespace, meta.name), this.encode(body));
      return this.decode(res, kv);
    } catch (e) {
      await reserved.revert();
      if (e instanceof StoreError && e.code === 'AlreadyExists') throw alreadyExists(res, meta.name);
      throw e;
    }
  }

  // ---- update ----
  async update(
    res: Resource,
    ns: string | undefined,
    name: string,
    input: unknown,
    ctx: Ctx,
    sub?: string,
  ): Promise<{ obj: Obj; created: boolean }> {
    if (!isObj(input)) throw badRequest('the body of the request was in an unknown format');
    this.checkTypeMeta(res, input);
    const body = this.structural(res, structuredClone(input), ctx);
    body.metadata = isObj(body.metadata) ? body.metadata : {};
    if (body.metadata.name && body.metadata.name !== name)
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    if (res.namespaced && body.metadata.namespace && body.metadata.namespace !== ns)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    body.metadata.name = name;
    const kv = await this.store.get(this.key(res, ns, name));
    if (!kv) {
      if (sub || !strategy(res).allowCreateOnUpdate) throw notFound(res, name);
      delete body.metadata.resourceVersion;
      return { obj: await this.create(res, ns, body, ctx), created: true };
    }
    const rv = body.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && String(rv) !== String(kv.modRevision))
      throw conflict(
        res,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    const old = this.decode(res, kv);
    const obj = await this.commitUpdate(res, old, kv.modRevision, body, ctx, sub);
    return { obj, created: false };
  }

  /** Merges what an update may change into the old object, validates, and writes guarded by rev. */
  private async commitUpdate(
    res: Resource,
    old: Obj,
    rev: number,
    body: Obj,
    ctx: Ctx,
    sub?: string,
    managed?: 'apply',
  ): Promise<Obj> {
    const strat = strategy(res);
    let next: Obj;
    if (sub === 'status') {
      next = structuredClone(old);
      next.status = body.status;
      if (body.metadata?.managedFields !== undefined && managed)
        next.metadata.managedFields = body.metadata.managedFields;
    } else if (sub === 'ephemeralcontainers') {
      next = withEphemeralContainers(old, body);
    } else {
      next = structuredClone(body);
      strat.prepareForUpdate(next, old, res);
    }
    next.apiVersion = groupVersion(res);
    next.kind = res.kind;
    const m = next.metadata;
    const om = old.metadata;
    m.name = om.name;
    if (res.namespaced) m.namespace = om.namespace;
    else delete m.namespace;
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp) {
      m.deletionTimestamp = om.deletionTimestamp;
      m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    if (om.deletionTimestamp && (m.finalizers ?? []).some((f: string) => !(om.finalizers ?? []).includes(f))) {
      const added = (m.finalizers ?? []).filter((f: string) => !(om.finalizers ?? []).includes(f));
      throw forbidden(
        `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
      );
    }
    if (res.generation) {
      m.generation = om.generation ?? 1;
      if (sub !== 'status' && JSON.stringify(specOf(next)) !== JSON.stringify(specOf(old))) m.generation++;
    } else delete m.generation;
    delete m.resourceVersion;
    if (sub !== 'status') applyDefaults(res.kind, next);
    strat.canonicalize(next);
    if (sub !== 'status') strat.normalizeUpdate(next, old);
    if (sub === 'ephemeralcontainers') {
      // Only the ephemeral containers changed (the rest of the pod was validated before).
      const errs = new Errs();
      validateEphemeralContainers(next, old, errs);
      if (!errs.empty) throw invalid(res, om.name, errs.list);
    } else this.validate(res, next, old);
    if (managed !== 'apply')
      trackUpdate(old, next, res.schema, {
        manager: ctx.manager,
        apiVersion: groupVersion(res),
        subresource: sub === 'status' || sub === 'ephemeralcontainers' ? sub : undefined,
        now: now(),
      });
    // Nothing changed: no write, same resourceVersion (as Kubernetes does).
    const oldCmp = { ...old, metadata: { ...old.metadata, resourceVersion: undefined, managedFields: undefined } };
    const nextCmp = { ...next, metadata: { ...next.metadata, resourceVersion: undefined, managedFields: undefined } };
    if (JSON.stringify(oldCmp) === JSON.stringify(nextCmp)) return old;
    if (om.deletionTimestamp && !(m.finalizers ?? []).length && !strat.staysAfterUpdate(next, old)) {
      if (ctx.dryRun) return next;
      const last = await this.finalDelete(res, old, rev);
      return { ...next, metadata: { ...next.metadata, resourceVersion: last.metadata.resourceVersion } };
    }
    if (ctx.dryRun) {
      next.metadata.resourceVersion = old.metadata.resourceVersion;
      return next;
    }
    const reserved = await strat.reserve(next, old, this.allocators);
    try {
      const kv = await this.store.update(this.key(res, om.namespace, om.name), this.encode(next), rev);
      await strat.releaseDropped(next, old, this.allocators);
      return this.decode(res, kv);
    } catch (e) {
      await reserved.revert();
      if (e instanceof StoreError && e.code === 'Conflict')
        throw conflict(
          res,
          om.name,
          'the object has been modified; please apply your changes to the latest version and try again',
        );
      if (e instanceof StoreError && e.code === 'NotFound') throw notFound(res, om.name);
      throw e;
    }
  }

  // ---- patch ----
  async patch(
    res: Resource,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    ctx: Ctx,
    opts: { sub?: string; force?: boolean } = {},
  ): Promise<{ obj: Obj; created: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(this.key(res, ns, name));
      if (!kv) {
        if (type === 'apply' && !opts.sub) {
          if (!isObj(patch)) throw badRequest('apply patch must be an object');
          this.checkTypeMeta(res, patch);
          if (patch.metadata?.name && patch.metadata.name !== name)
            throw badRequest(
              `the name of the object (${patch.metadata.name}) does not match the name on the URL (${name})`,
            );
          const body = this.structural(res, structuredClone(patch), ctx);
          body.metadata = { ...(body.metadata ?? {}), name };
          const { obj } = serverSideApply({ metadata: {} }, body, res.schema, {
            manager: ctx.manager,
            apiVersion: groupVersion(res),
            force: !!opts.force,
            now: now(),
          });
          return {
            obj: await this.create(res, ns, obj, ctx, { managedFields: obj.metadata.managedFields }),
            created: true,
          };
        }
        throw notFound(res, name);
      }
      const old = this.decode(res, kv);
      let next: Obj;
      try {
        const base = opts.sub === 'scale' ? toScale(res, old) : old;
        if (type === 'json') next = applyJsonPatch(base, patch);
        else if (type === 'merge') next = applyMergePatch(base, patch);
        else if (type === 'strategic') {
          if (!isObj(patch)) throw new PatchError('strategic merge patch must be a JSON object');
          next = strategicMerge(base, patch, opts.sub === 'scale' ? undefined : res.schema);
        } else {
          if (!isObj(patch)) throw new PatchError('apply patch must be an object');
          this.checkTypeMeta(res, patch);
          const cfg = this.structural(res, structuredClone(patch), ctx);
          const r = serverSideApply(old, cfg, res.schema, {
            manager: ctx.manager,
            apiVersion: groupVersion(res),
            force: !!opts.force,
            subresource: opts.sub,
            now: now(),
          });
          if (r.conflicts.length) {
            const conflicts = r.conflicts.map((c) => `conflict with "${c.manager}": ${c.field}`).join('\n');
            const plural = r.conflicts.length > 1 ? 's' : '';
            const msg = `Apply failed with ${r.conflicts.length} conflict${plural}: ${conflicts}`;
            throw new ApiError(409, 'Conflict', msg, {
              causes: r.conflicts.map((c) => ({
                reason: 'FieldManagerConflict',
                message: `conflict with "${c.manager}"`,
                field: c.field,
              })),
            });
          }
          next = r.obj;
        }
      } catch (e) {
        if (e instanceof PatchError)
          throw new ApiError(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: ${e.message}`,
          );
        if (e instanceof ApiError) throw e;
        throw badRequest(`unable to apply patch: ${(e as Error).message}`);
      }
      if (!isObj(next)) throw new ApiError(422, 'Invalid', 'the patch produced something that is not an object');
      if (!isObj(next.metadata))
        throw invalid(res, name, [
          {
            field: 'metadata',
            message: 'Required value: the patch removed the metadata',
            reason: 'FieldValueRequired',
          },
        ]);
      if (opts.sub === 'scale') next = fromScale(old, next);
      const explicitRv = next.metadata?.resourceVersion;
      if (explicitRv !== undefined && String(explicitRv) !== String(kv.modRevision)) {
        if (type === 'apply') delete next.metadata.resourceVersion;
        else
          throw conflict(
            res,
            name,
            'the object has been modified; please apply your changes to the latest version and try again',
          );
      }
      if (next.metadata?.name !== undefined && next.metadata.name !== name)
        throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
      try {
        const checked =
          type === 'apply' ? next : this.structural(res, next, { ...ctx, fieldValidation: ctx.fieldValidation });
        const obj = await this.commitUpdate(
          res,
          old,
          kv.modRevision,
          checked,
          ctx,
          opts.sub === 'scale' ? undefined : opts.sub,
          type === 'apply' ? 'apply' : undefined,
        );
        return { obj, created: false };
      } catch (e) {
        // A patch without an explicit resourceVersion is retried against the newer object.
        if (
          e instanceof ApiError &&
          e.code === 409 &&
          e.reason === 'Conflict' &&
          explicitRv === undefined &&
          attempt < 5
        )
          continue;
        throw e;
      }
    }
  }

  // ---- delete ----
  async delete(
    res: Resource,
    ns: string | undefined,
    name: string,
    opts: DeleteOpts,
    ctx: Ctx,
  ): Promise<{ obj: Obj; gone: boolean }> {
    const kv = await this.getKv(res, ns, name);
    const o = this.decode(res, kv);
    const strat = strategy(res);
    strat.beforeDelete(o);
    if (opts.preconditions?.uid && opts.preconditions.uid !== o.metadata.uid)
      throw conflict(
        res,
        name,
        `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${o.metadata.uid}`,
      );
    if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== o.metadata.resourceVersion)
      throw conflict(
        res,
        name,
        `Precondition failed: ResourceVersion in precondition: ${opts.preconditions.resourceVersion}, ` +
          `ResourceVersion in object meta: ${o.metadata.resourceVersion}`,
      );
    const finalizers = [...(o.metadata.finalizers ?? [])];
    if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan') && this.gcRunning)
      finalizers.push('orphan');
    if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion') && this.gcRunning)
      finalizers.push('foregroundDeletion');
    // Graceful deletion (a pod on a node stays until its agent has stopped it).
    const grace = strat.deletionGrace(o, opts);
    if (finalizers.length || grace > 0 || strat.awaitsFinalize(o)) {
      const next = structuredClone(o);
      const was = o.metadata.deletionGracePeriodSeconds;
      if (!next.metadata.deletionTimestamp)
        next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      else if (was !== undefined && grace < was)
        // A second delete may only shorten the grace: the deadline moves earlier by the difference.
        next.metadata.deletionTimestamp = new Date(Date.parse(o.metadata.deletionTimestamp) - (was - grace) * 1000)
          .toISOString()
          .replace(/\.\d+Z$/, 'Z');
      next.metadata.deletionGracePeriodSeconds = grace;
      next.metadata.finalizers = finalizers.length ? finalizers : undefined;
      if (!next.metadata.finalizers) delete next.metadata.finalizers;
      strat.markDeleting(next);
      if (ctx.dryRun) return { obj: next, gone: false };
      if (JSON.stringify(next) === JSON.stringify(o)) return { obj: o, gone: false };
      delete next.metadata.resourceVersion;
      try {
        const out = await this.store.update(kv.key, this.encode(next), kv.modRevision);
        return { obj: this.decode(res, out), gone: false };
      } catch (e) {
        if (e instanceof StoreError && e.code === 'Conflict')
          throw conflict(
            res,
            name,
            'the object has been modified; please apply your changes to the latest version and try again',
          );
        throw e;
      }
    }
    if (ctx.dryRun) return { obj: o, gone: true };
    return { obj: await this.finalDelete(res, o, kv.modRevision), gone: true };
  }

  /** Set when a garbage collector runs and will honour orphan/foreground finalizers. */
  gcRunning = false;

  private async finalDelete(res: Resource, o: Obj, rev: number): Promise<Obj> {
    try {
      const { prev } = await this.store.delete(this.key(res, o.metadata.namespace, o.metadata.name), rev);
      const last = this.decode(res, prev);
      await strategy(res).releaseDropped(null, last, this.allocators);
      return last;
    } catch (e) {
      if (e instanceof StoreError && e.code === 'Conflict')
        throw conflict(
          res,
          o.metadata.name,
          'the object has been modified; please apply your changes to the latest version and try again',
        );
      if (e instanceof StoreError && e.code === 'NotFound') throw notFound(res, o.metadata.name);
      throw e;
    }
  }

  async deleteCollection(
    res: Resource,
    ns: string | undefined,
    list: ListOpts,
    opts: DeleteOpts,
    ctx: Ctx,
  ): Promise<Obj[]> {
    const { items } = await this.list(res, ns, list);
    const out: Obj[] = [];
    for (const o of items) {
      try {
        out.push((await this.delete(res, o.metadata.namespace, o.metadata.name, opts, ctx)).obj);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return out;
  }

  // ---- subresources ----
  async bind(ns: string, name: string, binding: unknown, res: Resource, ctx: Ctx): Promise<void> {
    const node = bindingTarget(name, binding);
    for (let i = 0; i < 5; i++) {
      const kv = await this.getKv(res, ns, name);
      const pod = this.decode(res, kv);
      assignNode(pod as Pod, node, res, now());
      trackUpdate(this.decode(res, kv), pod, res.schema, { manager: ctx.manager, apiVersion: 'v1', now: now() });
      delete pod.metadata.resourceVersion;
      try {
        await this.store.update(kv.key, this.encode(pod), kv.modRevision);
        return;
      } catch (e) {
        if (!(e instanceof StoreError && e.code === 'Conflict')) throw e;
      }
    }
    throw conflict(res, name, 'too many concurrent updates');
  }

  async getScale(res: Resource, ns: string | undefined, name: string): Promise<Obj> {
    return toScale(res, await this.get(res, ns, name));
  }

  async updateScale(res: Resource, ns: string | undefined, name: string, body: unknown, ctx: Ctx): Promise<Obj> {
    if (!isObj(body)) throw badRequest('the body of the request was in an unknown format');
    const kv = await this.getKv(res, ns, name);
    const old = this.decode(res, kv);
    const rv = body.metadata?.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion)
      throw conflict(
        res,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    if (typeof body.spec?.replicas !== 'number' || body.spec.replicas < 0)
      throw invalid({ kind: 'Scale', group: 'autoscaling' }, name, [
        {
          field: 'spec.replicas',
          message: `Invalid value: ${body.spec?.replicas}: must be greater than or equal to 0`,
        },
      ]);
    const next = fromScale(old, body);
    return toScale(res, await this.commitUpdate(res, old, kv.modRevision, next, ctx));
  }

  // ---- watch ----
  /**
   * A watch's initial ADDED events, page by page at one revision (page size adapted to the
   * objects' size), waiting for the consumer between slices. Returns the revision read at.
   */
  private async initialEvents(
    res: Resource,
    prefix: string,
    match: (o: Obj) => boolean,
    emit: (type: WatchEventType, obj: Obj) => void,
    closed: () => boolean,
    drain?: () => Promise<void>,
  ): Promise<number> {
    let rev = 0;
    let startKey: string | undefined;
    let limit = pageSize(0);
    for (;;) {
      if (closed()) return rev;
      const page = await this.store.list(prefix, { revision: rev, limit, startKey });
      rev = page.revision;
      let bytes = 0,
        total = 0;
      for (const kv of page.items) {
        if (closed()) return rev;
        const o = this.decode(res, kv);
        if (match(o)) emit('ADDED', o);
        bytes += kv.value.length;
        total += kv.value.length;
        if (bytes > SLICE_BYTES) {
          bytes = 0;
          await drain?.();
        }
      }
      if (!page.more || !page.items.length) return rev;
      limit = pageSize(total / page.items.length);
      startKey = page.items[page.items.length - 1].key + '\u0000';
      await drain?.();
    }
  }

  watch(
    res: Resource,
    ns: string | undefined,
    opts: {
      labels: Requirement[];
      fields: FieldReq[];
      resourceVersion?: string;
      sendInitialEvents?: boolean;
      /** Resolves when the consumer can take more (the initial list is sent page by page). */
      drain?: () => Promise<void>;
    },
    emit: (type: WatchEventType, obj: Obj) => void,
    onError: (e: ApiError) => void,
  ): { close(): void; ready: Promise<void> } {
    const match = (o: Obj) => matchRequirements(opts.labels, o.metadata?.labels) && matchFields(opts.fields, o);
    let handle: WatchHandle | null = null;
    let closed = false;
    const prefix = this.prefix(res, ns);
    const start = async () => {
      const rvParam = opts.resourceVersion;
      let from: number;
      const initial = opts.sendInitialEvents ?? (!rvParam || rvParam === '0');
      if (initial) {
        // Page by page at one revision, waiting for the consumer between pages: the initial
        // list is never held whole per watcher.
        const release = await bulkSlots.acquire(() => closed);
        try {
          from = await this.initialEvents(res, prefix, match, emit, () => closed, opts.drain);
        } finally {
          release();
        }
        if (closed) return;
        if (opts.sendInitialEvents)
          emit('BOOKMARK', {
            kind: res.kind,
            apiVersion: groupVersion(res),
            metadata: { resourceVersion: String(from), annotations: { 'k8s.io/initial-events-end': 'true' } },
          });
      } else {
        from = parseResourceVersion(rvParam ?? '0');
        const compacted = await this.store.compactedRevision();
        if (from < compacted) throw gone(`too old resource version: ${from} (${compacted})`);
      }
      if (closed) return;
      handle = this.store.watch(prefix, from, {
        onEvent: (ev) => {
          const o = this.decode(res, ev.kv);
          const p = ev.prev ? this.decode(res, ev.prev) : null;
          if (ev.type === 'delete') {
            if (match(p ?? o)) emit('DELETED', o);
            return;
          }
          const now = match(o),
            before = p ? match(p) : false;
          if (now && before) emit('MODIFIED', o);
          else if (now) emit('ADDED', o);
          else if (before) emit('DELETED', o);
        },
        onError: (e) =>
          onError(
            e.code === 'Compacted'
              ? gone(`too old resource version: ${opts.resourceVersion} (${e.message})`)
              : internal(e.message),
          ),
      });
    };
    const ready = start().catch((e) => {
      if (e instanceof ApiError) return onError(e);
      if (e instanceof StoreError && e.code === 'Compacted')
        return onError(gone(`too old resource version: ${e.message}`));
      console.error('watch failed:', e);
      onError(internal('the watch could not be started; see the server log'));
    });
    return {
      close: () => {
        closed = true;
        handle?.close();
      },
      ready,
    };
  }
}

function specOf(o: Obj) {
  const { metadata, status, apiVersion, kind, ...rest } = o;
  void metadata;
  void status;
  void apiVersion;
  void kind;
  return rest;
}

/** A resourceVersion is a decimal integer the store can hold; anything else is the client's mistake. */
export function parseResourceVersion(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n))
    throw badRequest(`invalid resource version: "${s.slice(0, 64)}": must be a non-negative integer in range`);
  return n;
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

export function toScale(res: Resource, o: Obj): Obj {
  const sel = strategy(res).scaleSelector(o);
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: o.metadata.uid,
      resourceVersion: o.metadata.resourceVersion,
      creationTimestamp: o.metadata.creationTimestamp,
    },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector: formatLabelSelector(sel) },
  };
}

function fromScale(old: Obj, scale: Obj): Obj {
  const next = structuredClone(old);
  next.spec.replicas = scale.spec?.replicas;
  if (scale.metadata?.resourceVersion) next.metadata.resourceVersion = scale.metadata.resourceVersion;
  return next;
}

/** What validation finds wrong with `o`: an update's rules apply when `old` is given. */
function problems(res: Resource, o: Obj, old?: Obj): Cause[] {
  const errs = new Errs();
  validateMeta(res.kind, o.metadata ?? {}, res.namespaced, errs);
  validateKind(res.kind, o, errs, old);
  return errs.list;
}

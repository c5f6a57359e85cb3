// Which Services claim each element of the tables' fixed maps and sets. Kubernetes lets two
// Services claim one destination (the same external IP and port; a hand-edited store even the same
// NodePort or ClusterIP), and a map holds one value per key: that of the claimant whose
// `namespace/name` sorts first, as the full render merges them (the same choice on every node,
// whatever order the Services arrived in). A partial sync of one Service must then neither delete
// a key another Service still claims nor add one over it, so the applier diffs the touched
// elements as their first claimants give them, before and after, instead of as the changed
// Service alone has them. Pure: no kernel here.
import { addElement, addMember, emptyFragment, type Fragment } from './model.ts';
import { specOf } from './render.ts';

/** An element (`e`) of a fixed map or a member (`m`) of a fixed set of a table. */
export type Item = string;
const SEP = '\n';
const fixedCache = new Map<string, Set<string>>();
/** The names of a table's fixed maps and sets: only their elements can be claimed twice. */
function fixedOf(table: string): Set<string> {
  let s = fixedCache.get(table);
  if (!s) {
    const spec = specOf(table);
    fixedCache.set(table, (s = new Set([...spec.maps, ...spec.sets].map((m) => m.name))));
  }
  return s;
}

/** Every element and member of a table's fixed maps and sets that a Service's part there holds. */
export function itemsOf(table: string, part: Fragment): Set<Item> {
  const fixed = fixedOf(table);
  const out = new Set<Item>();
  for (const [map, els] of part.elements)
    if (fixed.has(map)) for (const k of els.keys()) out.add([table, 'e', map, k].join(SEP));
  for (const [set, vals] of part.members)
    if (fixed.has(set)) for (const v of vals) out.add([table, 'm', set, v].join(SEP));
  return out;
}

/** A Service's part of a table without the elements of the table's fixed maps and sets. */
export function withoutItems(table: string, f: Fragment): Fragment {
  const fixed = fixedOf(table);
  const out = { ...emptyFragment(), chains: f.chains, maps: f.maps, sets: f.sets };
  for (const [map, els] of f.elements) if (!fixed.has(map)) out.elements.set(map, els);
  for (const [set, vals] of f.members) if (!fixed.has(set)) out.members.set(set, vals);
  return out;
}

/** Inserts into a sorted list. */
function insertSorted(l: string[], s: string): void {
  let i = l.length;
  while (i > 0 && l[i - 1] > s) i--;
  l.splice(i, 0, s);
}

export class Claims {
  /** Item → the Services claiming it, sorted (the first is the one the table holds). */
  private readonly by = new Map<Item, string[]>();

  /** From every Service's items. */
  static of(items: Iterable<[string, Iterable<Item>]>): Claims {
    const c = new Claims();
    for (const [svc, its] of items)
      for (const item of its) {
        const list = c.by.get(item);
        if (list) insertSorted(list, svc);
        else c.by.set(item, [svc]);
      }
    return c;
  }

  /**
   * The claim lists of the items the Services' changes touch (`before`: the items a Service held,
   * `after`: those it holds now), as they will be; nothing changes here until `commit`. An empty
   * list: nobody claims the item any more.
   */
  plan(changes: Iterable<{ svc: string; before: Set<Item>; after: Set<Item> }>): Map<Item, string[]> {
    const next = new Map<Item, string[]>();
    const list = (item: Item) => {
      let l = next.get(item);
      if (!l) next.set(item, (l = [...(this.by.get(item) ?? [])]));
      return l;
    };
    for (const { svc, before, after } of changes) {
      for (const item of before)
        if (!after.has(item)) {
          const l = list(item);
          const i = l.indexOf(svc);
          if (i >= 0) l.splice(i, 1);
        }
      for (const item of after)
        if (!before.has(item)) {
          const l = list(item);
          if (!l.includes(svc)) insertSorted(l, svc);
        }
    }
    return next;
  }

  /** Makes a plan the claims (after its transaction was applied). */
  commit(plan: Map<Item, string[]>): void {
    for (const [item, l] of plan) {
      if (l.length) this.by.set(item, l);
      else this.by.delete(item);
    }
  }

  /**
   * The items per table, each as its first claimant's part of that table holds it (`partOf`), by
   * these claims or, for the items it has, by a plan; an item nobody claims is left out.
   */
  winners(
    items: Iterable<Item>,
    partOf: (svc: string, table: string) => Fragment,
    plan?: Map<Item, string[]>,
  ): Map<string, Fragment> {
    const out = new Map<string, Fragment>();
    for (const item of items) {
      const first = (plan?.get(item) ?? this.by.get(item))?.[0];
      if (first === undefined) continue;
      const [table, kind, name, key] = item.split(SEP);
      const part = partOf(first, table);
      let f = out.get(table);
      if (!f) out.set(table, (f = emptyFragment()));
      if (kind === 'm') {
        if (part.members.get(name)?.has(key)) addMember(f, name, key);
        continue;
      }
      const v = part.elements.get(name)?.get(key);
      if (v) addElement(f, name, key, v);
    }
    return out;
  }
}

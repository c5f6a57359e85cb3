// Which Ingresses are Skiff's: the rule the agents' ingress controllers route by and the server's
// status loop reports by, in one place so the two cannot disagree.
import type { Ingress, IngressClass } from './kube/index.ts';

/** The `spec.controller` of Skiff's IngressClasses. */
export const INGRESS_CONTROLLER = 'skiff.io/ingress';
/** The built-in class the server creates at start-up. */
export const BUILTIN_INGRESS_CLASS = 'skiff';

export interface OurClasses {
  names: Set<string>;
  /** One of Skiff's classes carries the default-class annotation. */
  isDefault: boolean;
}

/** The names of the IngressClasses Skiff's controller owns, and whether one of them is the default. */
export function ourClasses(classes: Iterable<IngressClass>): OurClasses {
  const names = new Set<string>();
  let isDefault = false;
  for (const c of classes) {
    if (c.spec?.controller !== INGRESS_CONTROLLER || !c.metadata.name) continue;
    names.add(c.metadata.name);
    if (c.metadata.annotations?.['ingressclass.kubernetes.io/is-default-class'] === 'true') isDefault = true;
  }
  return { names, isDefault };
}

/** An Ingress is Skiff's by spec.ingressClassName, else the legacy annotation, else the default class. */
export function isOurs(ing: Ingress, classes: OurClasses): boolean {
  const cls = ing.spec?.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'];
  return cls === undefined || cls === '' ? classes.isDefault : classes.names.has(cls);
}

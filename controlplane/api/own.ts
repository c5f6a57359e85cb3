// Own-property access for untyped JSON: keys that Object.prototype carries (constructor,
// toString, hasOwnProperty, __proto__) are ordinary keys in a Kubernetes object, never the
// prototype's members, and writing "__proto__" creates a key instead of replacing a prototype.

// biome-ignore lint/suspicious/noExplicitAny: any JSON value of any kind; each caller narrows what it reads
type Json = any;

/** The value of an own property, or undefined. */
export function own(o: Json, k: string): Json {
  return o !== null && typeof o === 'object' && Object.hasOwn(o, k) ? o[k] : undefined;
}

/** Sets an own, enumerable property (also for "__proto__"). */
export function setOwn(o: Record<string, Json>, k: string, v: Json): void {
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

// Checks of the small values that travel from API objects into kernel state and DNS records,
// shared by the API's validation and the agents that use them (which check again: a store may
// hold objects written before a check existed).

/** A port number a packet can carry as its destination (0 is "no port"). */
export const validPort = (p: unknown): p is number =>
  Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;

/** A MAC address as `ip` and `bridge` print and take it: six hex pairs. */
export const isMacAddress = (v: unknown): v is string =>
  typeof v === 'string' && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v);

/** One DNS label as Kubernetes names are made of (RFC 1123, lower case, 1-63 characters). */
export const isDnsLabel = (v: unknown): v is string =>
  typeof v === 'string' && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v);

/**
 * A host name a DNS record can carry: RFC 1123 labels of 1-63 characters, at most 253 in all,
 * one trailing dot allowed. (Kubernetes' subdomain rule alone lets a label run longer, and a
 * label over 63 bytes has a length byte that wire format reads as a pointer.)
 */
export const isDnsName = (v: unknown): boolean =>
  typeof v === 'string' && v.replace(/\.$/, '').length <= 253 && v.replace(/\.$/, '').split('.').every(isDnsLabel);

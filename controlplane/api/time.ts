// Kubernetes Time: RFC 3339 in UTC with whole seconds (metav1.Time on the wire).
export const kubeTime = (ms: number = Date.now()): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

// An object of the Kubernetes JSON wire format whose shape the code does not name yet.
// The typed model in this folder replaces it kind by kind; new code uses the named types.
// biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, kept only where the typed model does not reach yet
export type Obj = Record<string, any>;

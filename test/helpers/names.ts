// Sandbox names for the e2e tests: a prefix from SKIFF_TEST_PREFIX (default empty) before each
// file's fixed name, so two checkouts on one machine can run the same file without sharing a sandbox.
export function sandboxName(base: string): string {
  return `${process.env.SKIFF_TEST_PREFIX ?? ''}${base}`;
}

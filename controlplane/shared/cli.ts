// What every `skiff` subcommand shares: a one-line error and strict flag parsing.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** Prints `skiff: MSG` and exits 1: the CLI's answer to bad input. */
export function fail(msg: string): never {
  process.stderr.write(`skiff: ${msg}\n`);
  process.exit(1);
}

/** Parses flags strictly; an unknown or malformed flag ends the command with a one-line error. */
export function parse(args: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    fail((e as Error).message.split('\n')[0]);
  }
}

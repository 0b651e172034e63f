// Secrets read from files (the Slack signing secret): kept out of config files, logs and answers.
import * as fs from 'node:fs';
import { inspect } from 'node:util';

/** Thrown when a secret file cannot be read or is empty; the message names the file, never its content. */
export class SecretFileError extends Error {
  override name = 'SecretFileError';
}

/** A secret that never prints: JSON, util.inspect and string conversion all show "[redacted]". */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself, for the one place that uses it (signature checks). */
  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** Reads a secret file; surrounding whitespace (a trailing newline) is not part of the secret. */
export function readSecretFile(file: string, what: string): Secret {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SecretFileError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const value = text.trim();
  if (!value) throw new SecretFileError(`${what} ${file} is empty`);
  return new Secret(value);
}

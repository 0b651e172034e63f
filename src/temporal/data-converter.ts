// The one data converter every Temporal client and worker medic creates uses: with a payload key
// (temporal.payload_key_file), every payload is AES-256-GCM encrypted, so secret params never
// appear in Temporal history, its UI or `temporal workflow show`.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';

const ENCODING = 'binary/medic-aes256gcm';
const KEY_BYTES = 32;

/** Thrown when the payload key file cannot be read or does not hold a 256-bit key. */
export class PayloadKeyError extends Error {
  override name = 'PayloadKeyError';
}

/** Reads a 256-bit key: 64 hex digits or 44 base64 characters (whitespace ignored). */
export function readPayloadKey(file: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new PayloadKeyError(
      `cannot read temporal.payload_key_file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES)
    throw new PayloadKeyError(`temporal.payload_key_file ${file} must hold a 256-bit key (64 hex digits or base64)`);
  return key;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Encrypts whole payloads (metadata and data) with AES-256-GCM; decodes only what it encoded. */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly key: Buffer) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      const plain = Buffer.from(
        JSON.stringify({ m: encodeMetadata(p.metadata), d: Buffer.from(p.data ?? []).toString('base64') }),
      );
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: utf8(ENCODING) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const encoding = p.metadata?.encoding ? new TextDecoder().decode(p.metadata.encoding) : undefined;
      if (encoding !== ENCODING) return p;
      const sealed = Buffer.from(p.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
      const { m, d } = JSON.parse(plain.toString()) as { m: Record<string, string>; d: string };
      return { metadata: decodeMetadata(m), data: Buffer.from(d, 'base64') };
    });
  }
}

function encodeMetadata(m: Payload['metadata']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (v) out[k] = Buffer.from(v).toString('base64');
  return out;
}

function decodeMetadata(m: Record<string, string>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(m)) out[k] = Buffer.from(v, 'base64');
  return out;
}

/** The data converter of every client and worker: the SDK default, plus encryption when a key file is configured. */
export function medicDataConverter(payloadKeyFile: string | undefined): DataConverter {
  return payloadKeyFile ? { payloadCodecs: [new EncryptionCodec(readPayloadKey(payloadKeyFile))] } : {};
}

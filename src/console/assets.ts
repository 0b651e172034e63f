// The web console's browser files (assets/): read from the folder beside this module (a checkout
// or dist/, where `npm run build` copies them), or from the single executable's embedded assets.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EMBEDDED, embeddedAsset, isSingleExecutable } from '../single-executable/embedded';

export interface ConsoleAsset {
  body: Buffer;
  type: string;
  /** A strong ETag: the content's hash. */
  etag: string;
}

/** URL name -> embedded name and content type; nothing else is served from /ui/assets/. */
export const CONSOLE_ASSETS: Record<string, { embedded: string; type: string }> = {
  'console.js': { embedded: EMBEDDED.consoleScript, type: 'text/javascript; charset=utf-8' },
  'console.css': { embedded: EMBEDDED.consoleStyle, type: 'text/css; charset=utf-8' },
};

export const ASSET_DIR = path.join(__dirname, 'assets');

/** Reads every asset once (at start: a missing file fails the coordinator, not a browser later). */
export function loadConsoleAssets(dir = ASSET_DIR): Map<string, ConsoleAsset> {
  const out = new Map<string, ConsoleAsset>();
  for (const [name, a] of Object.entries(CONSOLE_ASSETS)) {
    const body = isSingleExecutable() ? embeddedAsset(a.embedded) : fs.readFileSync(path.join(dir, name));
    out.set(name, { body, type: a.type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return out;
}

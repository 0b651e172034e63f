// Build step (npm run build): copies the console's browser files from src/console/assets/ to
// dist/src/console/assets/, where the built coordinator reads them (tsc copies only TypeScript).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ASSET_DIR, CONSOLE_ASSETS } from './assets';

const source = path.join(__dirname, '..', '..', '..', 'src', 'console', 'assets');
fs.mkdirSync(ASSET_DIR, { recursive: true });
for (const name of Object.keys(CONSOLE_ASSETS)) fs.copyFileSync(path.join(source, name), path.join(ASSET_DIR, name));
process.stdout.write(`console assets: ${path.relative(process.cwd(), ASSET_DIR)} (${Object.keys(CONSOLE_ASSETS).join(', ')})\n`);

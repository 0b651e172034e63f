// Headless Chromium for the console's tests: Debian's `chromium` package driven by playwright-core.
// Tests skip visibly (a printed reason) only when the executable is not there.
import * as fs from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.MEDIC_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export const browserSkipReason = fs.existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} does not exist (apt-get install chromium, or set MEDIC_CHROMIUM)`;

/** `describe` or `describe.skip`, saying why on stderr when skipping. */
export function describeInBrowser(name: string, fn: () => void): void {
  if (browserSkipReason) process.stderr.write(`${name}: SKIPPED: ${browserSkipReason}\n`);
  (browserSkipReason ? describe.skip : describe)(name, fn);
}

/** `it`, or `it.skip` with the reason printed. */
export function itInBrowser(name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  if (browserSkipReason) process.stderr.write(`${name}: SKIPPED: ${browserSkipReason}\n`);
  (browserSkipReason ? it.skip : it)(name, fn, timeoutMs);
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // Root (CI, containers) cannot use Chromium's user-namespace sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
}

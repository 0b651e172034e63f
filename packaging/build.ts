// `npm run package`: the single executable, the .deb/.rpm/.tar.gz and the OCI image in
// dist/pkg/, from a built checkout (`npm run build` runs first); prints their paths, the
// executable's size and how long `medic version` takes to start.
// `--image-root` stops after staging the image's root file system (what the Dockerfile copies).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildImage, stageImageRoot } from './image';
import { buildPackages } from './nfpm';
import { buildInfoNow, buildSingleExecutable, coreBridgeAddon } from './sea';
import { ensureTools } from './tools';

const ROOT = path.join(__dirname, '..');
export const PKG_DIR = path.join(ROOT, 'dist', 'pkg');

function say(line: string): void {
  process.stderr.write(`[package] ${line}\n`);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Median wall time of `medic version` over a few runs, with no PATH (no node to find). */
function versionStartMs(exe: string, runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    execFileSync(exe, ['version'], { env: { PATH: '/nonexistent' }, stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

async function main(args: string[]): Promise<void> {
  const started = Date.now();
  const imageRootOnly = args.includes('--image-root');
  const tools = imageRootOnly ? undefined : await ensureTools(say);
  const sea = await buildSingleExecutable(say);
  fs.mkdirSync(PKG_DIR, { recursive: true });
  const exe = path.join(PKG_DIR, 'medic');
  fs.copyFileSync(sea, exe);
  fs.chmodSync(exe, 0o755);
  const info = buildInfoNow();
  const imageRoot = path.join(PKG_DIR, 'image-root');
  say('staging the image root file system');
  stageImageRoot(exe, coreBridgeAddon(), imageRoot);
  if (imageRootOnly || !tools) {
    process.stdout.write(`${imageRoot}\n`);
    return;
  }
  say('building .deb, .rpm and .tar.gz');
  const packages = buildPackages(tools.nfpm, exe, info.version, PKG_DIR);
  say('building the OCI image');
  const epoch = Math.floor(Date.parse(info.buildDate) / 1000);
  const image = buildImage(imageRoot, info.version, PKG_DIR, epoch);
  say('validating the image with crane');
  execFileSync(tools.crane, ['validate', '--tarball', image.tarball], { stdio: ['ignore', 'ignore', 'inherit'] });

  const rel = (p: string): string => path.relative(process.cwd(), p);
  for (const p of [exe, ...packages, image.tarball]) process.stdout.write(`${rel(p)}\t${mib(fs.statSync(p).size)}\n`);
  process.stdout.write(`image ${image.reference} ${image.digest}\n`);
  process.stdout.write(`medic ${info.version} (commit ${info.commit}, built ${info.buildDate})\n`);
  process.stdout.write(
    `executable size: ${mib(fs.statSync(exe).size)}; medic version start: ${versionStartMs(exe).toFixed(0)} ms (median of 5)\n`,
  );
  say(`done in ${Math.round((Date.now() - started) / 1000)}s`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`npm run package: ${err.message}\n`);
  process.exitCode = 1;
});

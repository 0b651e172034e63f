// The nfpm config (.deb and .rpm) and the .tar.gz: /usr/bin/medic, the systemd units (none
// enabled), the example config as conffiles in /etc/medic, and the maintainer scripts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

export interface PackageFile {
  src: string;
  dst: string;
  type?: 'config|noreplace';
  file_info: { mode: number; mtime?: string };
}

/** Workflows shipped in /etc/medic/workflows: the repository's, without the `medic dev` demo. */
const DEV_ONLY_WORKFLOWS = new Set(['healDemo.hcl']);

/**
 * The example /etc/medic, path inside it -> source: production-shaped coordinator.hcl, worker.hcl
 * and triggers/ from packaging/etc-medic/ (certificates in /etc/medic/tls, not the dev ones),
 * and the workflow configs from config/workflows/.
 */
export function etcMedic(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const etc = path.join(ROOT, 'packaging', 'etc-medic');
  for (const rel of fs.readdirSync(etc, { recursive: true }) as string[]) {
    if (rel.endsWith('.hcl')) out.push([rel, path.join(etc, rel)]);
  }
  const workflows = path.join(ROOT, 'config', 'workflows');
  for (const name of fs.readdirSync(workflows)) {
    if (name.endsWith('.hcl') && !DEV_ONLY_WORKFLOWS.has(name)) out.push([`workflows/${name}`, path.join(workflows, name)]);
  }
  return out.sort(([a], [b]) => a.localeCompare(b));
}

/** CHANGELOG.md, compressed the way Debian wants it (no name or time in the gzip header). */
function changelogGz(): string {
  const out = path.join(ROOT, 'dist', 'pkg', 'changelog.gz');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, execFileSync('gzip', ['-9', '-n', '-c', path.join(ROOT, 'CHANGELOG.md')]));
  return out;
}

/** What every package holds, source -> installed path. */
export function packageContents(exe: string): PackageFile[] {
  const files: PackageFile[] = [{ src: exe, dst: '/usr/bin/medic', file_info: { mode: 0o755 } }];
  const units = path.join(ROOT, 'deploy', 'systemd');
  for (const unit of fs
    .readdirSync(units)
    .filter((f) => f.endsWith('.service'))
    .sort()) {
    files.push({ src: path.join(units, unit), dst: `/usr/lib/systemd/system/${unit}`, file_info: { mode: 0o644 } });
  }
  for (const [rel, src] of etcMedic()) {
    files.push({ src, dst: `/etc/medic/${rel}`, type: 'config|noreplace', file_info: { mode: 0o644 } });
  }
  files.push(
    { src: path.join(ROOT, 'packaging', 'copyright'), dst: '/usr/share/doc/medic/copyright', file_info: { mode: 0o644 } },
    { src: changelogGz(), dst: '/usr/share/doc/medic/changelog.gz', file_info: { mode: 0o644 } },
    {
      src: path.join(ROOT, 'packaging', 'lintian-overrides'),
      dst: '/usr/share/lintian/overrides/medic',
      file_info: { mode: 0o644 },
    },
  );
  return files;
}

/** The nfpm configuration (JSON is YAML) for one version of medic. */
export function nfpmConfig(version: string, exe: string): object {
  const scripts = path.join(ROOT, 'packaging', 'scripts');
  return {
    name: 'medic',
    arch: 'amd64',
    platform: 'linux',
    version,
    section: 'admin',
    priority: 'optional',
    maintainer: 'medic maintainers <medic@example.com>',
    description:
      'Self-healing remediation orchestrator for server fleets, on Temporal.\n' +
      'One executable: the coordinator, worker and trigger roles and the client verbs.',
    vendor: 'medic',
    homepage: 'https://github.com/medic/medic',
    license: 'Apache-2.0',
    contents: packageContents(exe),
    scripts: {
      postinstall: path.join(scripts, 'postinstall.sh'),
      preremove: path.join(scripts, 'preremove.sh'),
      postremove: path.join(scripts, 'postremove.sh'),
    },
    // The executable is Node.js with medic inside: it links only the C and C++ runtimes.
    overrides: {
      deb: { depends: ['libc6 (>= 2.28)', 'libstdc++6', 'libgcc-s1', 'adduser'] },
      rpm: { depends: ['glibc', 'libstdc++', 'libgcc', 'shadow-utils'] },
    },
    rpm: { group: 'System Environment/Daemons', compression: 'zstd' },
    // gzip: every dpkg reads it, and xz takes minutes on 140 MiB with two busy cores.
    deb: { compression: 'gzip' },
  };
}

/** Builds the .deb and .rpm with nfpm and the .tar.gz with tar; returns their paths. */
export function buildPackages(nfpm: string, exe: string, version: string, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const config = path.join(outDir, 'nfpm.yaml');
  fs.writeFileSync(config, JSON.stringify(nfpmConfig(version, exe), null, 2) + '\n');
  const out: string[] = [];
  for (const [packager, file] of [
    ['deb', `medic_${version}_amd64.deb`],
    ['rpm', `medic-${version}-1.x86_64.rpm`],
  ] as const) {
    const target = path.join(outDir, file);
    fs.rmSync(target, { force: true });
    execFileSync(nfpm, ['package', '--config', config, '--packager', packager, '--target', target], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    out.push(target);
  }
  out.push(buildTarball(exe, version, outDir));
  return out;
}

/** The same files as the packages, for hosts without dpkg or rpm: unpack at / (or anywhere). */
function buildTarball(exe: string, version: string, outDir: string): string {
  const stage = path.join(outDir, 'tar-root');
  fs.rmSync(stage, { recursive: true, force: true });
  for (const f of packageContents(exe)) {
    const dst = path.join(stage, f.dst);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(f.src, dst);
    fs.chmodSync(dst, f.file_info.mode);
  }
  const target = path.join(outDir, `medic_${version}_linux_amd64.tar.gz`);
  const mtime = process.env.SOURCE_DATE_EPOCH ? `@${process.env.SOURCE_DATE_EPOCH}` : '@0';
  execFileSync('tar', [
    '--sort=name',
    `--mtime=${mtime}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-czf',
    target,
    '-C',
    stage,
    'usr',
    'etc',
  ]);
  fs.rmSync(stage, { recursive: true, force: true });
  return target;
}

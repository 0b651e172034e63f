// OCI image build without a Docker daemon or a base image: a root file system made of files on
// this machine (the executable, the shared libraries ldd lists, CA certificates, a non-root
// user), written as an OCI image layout that also carries Docker's manifest.json, so
// `docker load`, `podman load` and `skopeo copy oci-archive:` all read the one tarball.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** The image's user: not root, and not a uid a host is likely to give to someone else. */
export const IMAGE_UID = 10001;

export interface ImageFacts {
  tarball: string;
  reference: string;
  digest: string;
}

/** Shared libraries a binary needs, as ldd resolves them here (absolute paths). */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs].sort();
}

function copyResolved(src: string, dst: string, mode: number): void {
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(fs.realpathSync(src), dst);
  fs.chmodSync(dst, mode);
}

/**
 * Stages the image's root file system in `root`: /usr/bin/medic, the C and C++ runtimes it and
 * Temporal's native addon link, /etc/ssl/certs, /etc/passwd and /etc/group with `medic`, a
 * sticky /tmp (the executable unpacks its addon there) and /etc/medic for the config.
 */
export function stageImageRoot(exe: string, addon: string, root: string): void {
  fs.rmSync(root, { recursive: true, force: true });
  copyResolved(exe, path.join(root, 'usr', 'bin', 'medic'), 0o755);
  for (const lib of new Set([...sharedLibraries(exe), ...sharedLibraries(addon)])) {
    copyResolved(lib, path.join(root, lib), 0o755);
  }
  copyResolved('/etc/ssl/certs/ca-certificates.crt', path.join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), 0o644);
  const etc = (name: string, text: string): void => fs.writeFileSync(path.join(root, 'etc', name), text, { mode: 0o644 });
  etc('passwd', `root:x:0:0:root:/root:/sbin/nologin\nmedic:x:${IMAGE_UID}:${IMAGE_UID}:medic:/var/lib/medic:/sbin/nologin\n`);
  etc('group', `root:x:0:\nmedic:x:${IMAGE_UID}:\n`);
  etc('nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  for (const dir of ['tmp', 'etc/medic', 'var/lib/medic']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** tar flags that make an archive byte-for-byte reproducible: sorted names, fixed times, numeric root owners. */
function reproducibleTar(epoch: number): string[] {
  return ['--sort=name', `--mtime=@${epoch}`, '--numeric-owner', '--owner=0', '--group=0'];
}

/** A reproducible layer: sorted names, fixed times, numeric owners (medic's own dirs are its). */
function layerTar(root: string, epoch: number): Buffer {
  return execFileSync('tar', [...reproducibleTar(epoch), '-C', root, '-cf', '-', ...fs.readdirSync(root).sort()], {
    maxBuffer: 1 << 30,
  });
}

/** Builds the image tarball from the staged root; returns its path, reference and manifest digest. */
export function buildImage(root: string, version: string, outDir: string, epoch: number): ImageFacts {
  // /var/lib/medic belongs to the medic user; tar --owner=0 cannot say that per file, so the
  // directory is world-writable with the sticky bit, like /tmp, instead of owned.
  fs.chmodSync(path.join(root, 'var', 'lib', 'medic'), 0o1777);
  const tar = layerTar(root, epoch);
  const gz = zlib.gzipSync(tar);
  const created = new Date(epoch * 1000).toISOString();
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created,
      config: {
        User: `${IMAGE_UID}:${IMAGE_UID}`,
        Entrypoint: ['/usr/bin/medic'],
        Cmd: ['version'],
        Env: ['PATH=/usr/bin:/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt', 'NODE_ENV=production'],
        WorkingDir: '/var/lib/medic',
        ExposedPorts: { '8443/tcp': {} },
        Labels: {
          'org.opencontainers.image.title': 'medic',
          'org.opencontainers.image.version': version,
          'org.opencontainers.image.description': 'medic coordinator and trigger roles',
        },
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
      history: [{ created, created_by: 'medic packaging/image.ts' }],
    }),
  );
  const layerDigest = sha256(gz);
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerDigest}`, size: gz.length }],
    }),
  );
  const manifestDigest = sha256(manifest);
  const reference = `medic:${version}`;

  const layout = path.join(outDir, 'oci-layout-stage');
  fs.rmSync(layout, { recursive: true, force: true });
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  fs.writeFileSync(path.join(blobs, layerDigest), gz);
  fs.writeFileSync(path.join(blobs, configDigest), config);
  fs.writeFileSync(path.join(blobs, manifestDigest), manifest);
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${manifestDigest}`,
          size: manifest.length,
          annotations: {
            'org.opencontainers.image.ref.name': version,
            'io.containerd.image.name': `docker.io/library/${reference}`,
          },
        },
      ],
    }),
  );
  // Docker's own `docker save` format since 25.0: the OCI layout plus manifest.json.
  fs.writeFileSync(
    path.join(layout, 'manifest.json'),
    JSON.stringify([{ Config: `blobs/sha256/${configDigest}`, RepoTags: [reference], Layers: [`blobs/sha256/${layerDigest}`] }]),
  );
  const tarball = path.join(outDir, `medic_${version}_oci.tar`);
  execFileSync('tar', [...reproducibleTar(epoch), '-C', layout, '-cf', tarball, '.']);
  fs.rmSync(layout, { recursive: true, force: true });
  return { tarball, reference, digest: `sha256:${manifestDigest}` };
}

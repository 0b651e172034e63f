// Builds the single executable dist/sea/medic: esbuild bundles dist/cmd/medic.js into a small main
// script (the client verbs) and a roles bundle (everything else, with its V8 code cache); Node's
// single executable application support embeds them with the workflow bundle, Temporal's native
// addon and the HCL parser's WASM as assets, and postject injects that into a copy of node.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { EMBEDDED, type BuildInfo } from '../src/single-executable/embedded';

const ROOT = path.join(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'sea');
/** The compiled runtime shim the patched libraries call (see src/single-executable/embedded.ts). */
const SHIM = path.join(ROOT, 'dist', 'src', 'single-executable', 'embedded.js');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export class SeaBuildError extends Error {
  override name = 'SeaBuildError';
}

function pkgFile(...parts: string[]): string {
  return path.join(ROOT, 'node_modules', ...parts);
}

/**
 * Library code that reads files next to itself, which the executable does not have. Each
 * edit names the exact text it replaces, so an SDK upgrade that changes it fails the build
 * here instead of at run time on a server.
 */
const PATCHES: Array<{ file: string; from: string; to: string }> = [
  {
    file: pkgFile('@temporalio', 'core-bridge', 'index.js'),
    from: 'const nativeLibPath = getPrebuiltPath();\n  const native = Object.fromEntries(Object.entries(require(nativeLibPath))',
    to: `const native = Object.fromEntries(Object.entries(require(${JSON.stringify(SHIM)}).loadEmbeddedAddon(${JSON.stringify(EMBEDDED.coreBridge)}))`,
  },
  {
    file: pkgFile('@temporalio', 'worker', 'lib', 'workflow', 'threaded-vm.js'),
    from: "require.resolve('./workflow-worker-thread')",
    to: `require(${JSON.stringify(SHIM)}).embeddedFile(${JSON.stringify(EMBEDDED.workflowThread)})`,
  },
  {
    // The worker maps workflow stack traces through source-map, whose decoder is WASM.
    file: pkgFile('source-map', 'lib', 'read-wasm.js'),
    from: 'fs.readFile(wasmPath, null, (error, data) => {',
    to: `((_path, _opts, done) => { try { done(null, require(${JSON.stringify(SHIM)}).embeddedAsset(${JSON.stringify(EMBEDDED.sourceMapWasm)})); } catch (e) { done(e); } })(wasmPath, null, (error, data) => {`,
  },
  {
    file: pkgFile('@cdktn', 'hcl2json', 'build', 'bridge.js'),
    from: 'await fs.readFile((0, path_1.join)(__dirname, "..", "main.wasm.gz"))',
    to: `require(${JSON.stringify(SHIM)}).embeddedAsset(${JSON.stringify(EMBEDDED.hclWasm)})`,
  },
];

/** Modules only the workflow bundler needs; the executable ships a prebuilt bundle instead. */
const BUNDLER_ONLY = /^(webpack|swc-loader|memfs|unionfs|@swc\/core)$/;

const patchPlugin: esbuild.Plugin = {
  name: 'medic-sea',
  setup(build) {
    for (const p of PATCHES) {
      const filter = new RegExp(`^${p.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`);
      build.onLoad({ filter }, () => {
        const text = fs.readFileSync(p.file, 'utf8');
        if (!text.includes(p.from))
          throw new SeaBuildError(`${p.file} no longer contains ${JSON.stringify(p.from)}: update packaging/sea.ts`);
        return { contents: text.replace(p.from, p.to), loader: 'js' };
      });
    }
    build.onResolve({ filter: BUNDLER_ONLY }, (args) => ({ path: args.path, namespace: 'bundler-only' }));
    build.onLoad({ filter: /.*/, namespace: 'bundler-only' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not in the medic executable: it runs a prebuilt workflow bundle`)}); };
module.exports = new Proxy(fail, { get: (_t, key) => (key === '__esModule' ? false : fail), apply: fail });`,
      loader: 'js',
    }));
  },
};

/**
 * The verbs' modules that stay in the executable's main script: the client verbs, which need
 * only Node's built-ins. Every other module the verb table (src/cli/commands.ts) or the entry
 * point loads goes to the roles bundle, compiled only when such a verb runs.
 */
const CLIENT_VERBS = new Set(['./queries', './run', './fleet', './approvals', './version', './completion']);
const VERB_TABLE = path.join(ROOT, 'dist', 'src', 'cli', 'commands.js');
const ENTRY = path.join(ROOT, 'dist', 'cmd', 'medic.js');

/** Sends the role verbs' modules to the roles bundle; `roleModules` collects what it sent. */
function splitPlugin(roleModules: Set<string>): esbuild.Plugin {
  return {
    name: 'medic-sea-split',
    setup(build) {
      build.onResolve({ filter: /^\./ }, (args) => {
        const fromTable = args.importer === VERB_TABLE && !CLIENT_VERBS.has(args.path);
        const fromEntry = args.importer === ENTRY && args.path === '../src/worker/config-process';
        if (!fromTable && !fromEntry) return undefined;
        const key = path.relative(ROOT, require.resolve(path.join(args.resolveDir, args.path)));
        roleModules.add(key);
        return { path: key, namespace: 'medic-role' };
      });
      build.onLoad({ filter: /.*/, namespace: 'medic-role' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(SHIM)}).embeddedRole(${JSON.stringify(args.path)}, require);`,
        resolveDir: ROOT,
        loader: 'js',
      }));
    },
  };
}

async function bundle(
  entry: string | { contents: string },
  outfile: string,
  plugins: esbuild.Plugin[] = [],
): Promise<esbuild.Metafile> {
  const result = await esbuild.build({
    ...(typeof entry === 'string' ? { entryPoints: [entry] } : { stdin: { ...entry, resolveDir: ROOT, loader: 'js' } }),
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    metafile: true,
    // The executable's `require` loads only built-in modules and has no resolve(); the SDK calls
    // require.resolve at load time for paths only its workflow bundler uses, so give it one that
    // names a path that does not exist.
    banner: {
      js: 'if (typeof require.resolve !== "function") require.resolve = (id) => "/nonexistent/medic-executable/" + id;',
    },
    legalComments: 'none',
    // hcl2json falls back to a `performance` package only where the global is missing (not Node 20).
    external: ['performance'],
    logLevel: 'silent',
    plugins: [...plugins, patchPlugin],
  });
  for (const w of result.warnings) {
    // esbuild warns about require.resolve and dynamic requires it leaves alone; they are not
    // reached in the executable (the patches above cover the ones that are).
    if (process.env.MEDIC_SEA_VERBOSE) process.stderr.write(`esbuild: ${w.text} (${w.location?.file}:${w.location?.line})\n`);
  }
  return result.metafile;
}

/**
 * The executable's main script (the entry point, the verb table, the client verbs) and the roles
 * bundle with its code cache. The main script must not hold a library: a client verb's start
 * would parse it.
 */
async function bundleSplit(main: string, roles: string): Promise<void> {
  const roleModules = new Set<string>();
  const meta = await bundle(ENTRY, main, [splitPlugin(roleModules)]);
  const libraries = Object.keys(meta.inputs).filter((f) => f.includes('node_modules/'));
  if (libraries.length)
    throw new SeaBuildError(
      `the executable's main script would load libraries (${libraries.slice(0, 3).join(', ')}): packaging/sea.ts CLIENT_VERBS`,
    );
  const table = [...roleModules].map(
    (key) => `  ${JSON.stringify(key)}: () => require(${JSON.stringify(path.join(ROOT, key))}),`,
  );
  await bundle({ contents: `module.exports = {\n${table.join('\n')}\n};\n` }, roles);
  // V8's code cache for it, from this same Node.js (the executable is a copy of it, so V8 accepts it).
  execFileSync(process.execPath, [
    '-e',
    `const fs = require('fs'), vm = require('vm');
     const script = new vm.Script(require('module').wrap(fs.readFileSync(process.argv[1], 'utf8')), { filename: process.argv[1] });
     fs.writeFileSync(process.argv[2], script.createCachedData());`,
    roles,
    `${roles}.cache`,
  ]);
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function buildInfoNow(): BuildInfo {
  const pkg = (name: string): string => (JSON.parse(fs.readFileSync(name, 'utf8')) as { version: string }).version;
  const commit = git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';
  const dirty = commit !== 'unknown' && git(['status', '--porcelain', '--untracked-files=no']) !== '';
  // SOURCE_DATE_EPOCH (reproducible builds) else the commit's time, so rebuilding a commit gives the same facts.
  const epoch = process.env.SOURCE_DATE_EPOCH ?? git(['log', '-1', '--format=%ct']);
  return {
    version: pkg(path.join(ROOT, 'package.json')),
    commit: dirty ? `${commit}-dirty` : commit,
    buildDate: epoch ? new Date(Number(epoch) * 1000).toISOString() : new Date().toISOString(),
    temporalSdk: pkg(pkgFile('@temporalio', 'worker', 'package.json')),
  };
}

export function coreBridgeAddon(): string {
  const { getPrebuiltPath } = require(pkgFile('@temporalio', 'core-bridge', 'common.js')) as { getPrebuiltPath(): string };
  return getPrebuiltPath();
}

/** Builds dist/sea/medic from dist/ (run `npm run build` first) and returns its path. */
export async function buildSingleExecutable(progress: (line: string) => void): Promise<string> {
  const bundlePath = path.join(ROOT, 'dist', 'workflow-bundle.js');
  const ledgerBundle = path.join(ROOT, 'dist', EMBEDDED.ledgerBundle);
  for (const f of [ENTRY, bundlePath, ledgerBundle, SHIM, path.join(ROOT, 'dist', EMBEDDED.leanApi)])
    if (!fs.existsSync(f)) throw new SeaBuildError(`${f} is missing: run npm run build first`);
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });

  progress('bundling medic with esbuild');
  const main = path.join(OUT, 'medic.cjs');
  const roles = path.join(OUT, EMBEDDED.roles);
  await bundleSplit(main, roles);
  const thread = path.join(OUT, EMBEDDED.workflowThread);
  await bundle(pkgFile('@temporalio', 'worker', 'lib', 'workflow', 'workflow-worker-thread.js'), thread);

  const info = path.join(OUT, EMBEDDED.buildInfo);
  fs.writeFileSync(info, JSON.stringify(buildInfoNow(), null, 2) + '\n');
  const seaConfig = path.join(OUT, 'sea-config.json');
  const blob = path.join(OUT, 'medic.blob');
  fs.writeFileSync(
    seaConfig,
    JSON.stringify(
      {
        main,
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
        assets: {
          [EMBEDDED.buildInfo]: info,
          [EMBEDDED.consoleScript]: path.join(ROOT, 'dist', 'src', 'coordinator', 'console', 'assets', EMBEDDED.consoleScript),
          [EMBEDDED.consoleStyle]: path.join(ROOT, 'dist', 'src', 'coordinator', 'console', 'assets', EMBEDDED.consoleStyle),
          [EMBEDDED.coreBridge]: coreBridgeAddon(),
          [EMBEDDED.hclWasm]: pkgFile('@cdktn', 'hcl2json', 'main.wasm.gz'),
          [EMBEDDED.leanApi]: path.join(ROOT, 'dist', EMBEDDED.leanApi),
          [EMBEDDED.ledgerBundle]: ledgerBundle,
          [EMBEDDED.roles]: roles,
          [EMBEDDED.rolesCodeCache]: `${roles}.cache`,
          [EMBEDDED.sourceMapWasm]: pkgFile('source-map', 'lib', 'mappings.wasm'),
          [EMBEDDED.workflowBundle]: bundlePath,
          [EMBEDDED.workflowManifest]: bundlePath.replace(/\.js$/, '.manifest.json'),
          [EMBEDDED.workflowThread]: thread,
        },
      },
      null,
      2,
    ),
  );
  progress('generating the single executable blob');
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  const exe = path.join(OUT, 'medic');
  fs.copyFileSync(process.execPath, exe);
  fs.chmodSync(exe, 0o755);
  // Symbols are of no use on a server and cost tens of MiB; strip before injecting the blob.
  try {
    execFileSync('strip', ['--strip-all', exe], { stdio: 'ignore' });
  } catch {
    progress('strip is not available: the executable keeps its symbols');
  }
  progress(`injecting it into a copy of ${process.execPath} (Node.js ${process.versions.node})`);
  const postject = require.resolve('postject/dist/cli.js');
  // postject warns about every ELF note section it cannot name; those warnings are harmless.
  try {
    execFileSync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'pipe' });
  } catch (err) {
    throw new SeaBuildError(`postject failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}`);
  }
  return exe;
}

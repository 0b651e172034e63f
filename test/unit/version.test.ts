// `medic version` from a checkout: the commit `npm run build` recorded, while the record is of the
// build that runs (its build date); git only when there is no such record.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRecordFile, checkoutBuildInfo, recordBuild } from '../../src/version';

let root: string;

beforeEach(() => {
  // Not a git checkout: asking git gives "unknown", so the tests see which source answered.
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-version-'));
  fs.mkdirSync(path.join(root, 'dist', 'cmd'), { recursive: true });
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ version: '9.8.7' }));
  fs.writeFileSync(path.join(root, 'dist', 'cmd', 'medic.js'), '');
  fs.utimesSync(path.join(root, 'dist', 'cmd', 'medic.js'), new Date('2026-01-02T03:04:05Z'), new Date('2026-01-02T03:04:05Z'));
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function record(commit: string, buildDate: string): void {
  fs.writeFileSync(buildRecordFile(root), JSON.stringify({ commit, buildDate }));
}

describe('the build facts of a checkout', () => {
  it("take the commit from the build's record", () => {
    record('abcdef123456', '2026-01-02T03:04:05.000Z');
    expect(checkoutBuildInfo(root)).toMatchObject({
      version: '9.8.7',
      commit: 'abcdef123456',
      buildDate: '2026-01-02T03:04:05.000Z',
    });
  });

  it('ask git when the record is of an older build', () => {
    record('abcdef123456', '2025-12-31T00:00:00.000Z');
    expect(checkoutBuildInfo(root).commit).toBe('unknown');
  });

  it('ask git when there is no record, and recordBuild writes one for this build', () => {
    expect(checkoutBuildInfo(root).commit).toBe('unknown');
    recordBuild(root);
    expect(JSON.parse(fs.readFileSync(buildRecordFile(root), 'utf8'))).toEqual({
      commit: 'unknown',
      buildDate: '2026-01-02T03:04:05.000Z',
    });
  });
});

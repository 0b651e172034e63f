import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigDir } from '../../src/config/load';

async function load(coordinatorHcl: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-coord-config-'));
  try {
    fs.writeFileSync(path.join(dir, 'coordinator.hcl'), coordinatorHcl);
    return await loadConfigDir(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SERVER = `server_config {
  enable_tls = false
  route_rule {
    name = "a"
    method = "GET"
    route_patterns = ["/metrics"]
    allow_public = true
  }
}
`;

describe('coordinator.hcl admission block', () => {
  it('defaults visibility_qps to 2', async () => {
    const r = await load(SERVER);
    expect(r.ok).toBe(true);
    expect(r.config.coordinator?.admission).toEqual({ visibilityQps: 2 });
  });

  it('reads visibility_qps; 0 turns visibility checks off', async () => {
    const r = await load(`${SERVER}admission {\n  visibility_qps = 0\n}\n`);
    expect(r.ok).toBe(true);
    expect(r.config.coordinator?.admission.visibilityQps).toBe(0);
  });

  it('rejects a negative rate and unknown keys, naming the attribute', async () => {
    const r = await load(`${SERVER}admission {\n  visibility_qps = -1\n  burst = 3\n}\n`);
    expect(r.ok).toBe(false);
    const paths = r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['admission.visibility_qps', 'admission.burst']));
  });
});

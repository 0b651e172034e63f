// The shipped systemd units: one per daemon role, reloadable, restarted on failure, hardened.
import * as fs from 'node:fs';
import * as path from 'node:path';

const DIR = path.join(__dirname, '..', '..', 'deploy', 'systemd');

function unit(role: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of fs.readFileSync(path.join(DIR, `medic-${role}.service`), 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('[')) section = line.slice(1, -1);
    else {
      const at = line.indexOf('=');
      const key = `${section}.${line.slice(0, at)}`;
      keys.set(key, [...(keys.get(key) ?? []), line.slice(at + 1)]);
    }
  }
  return keys;
}

describe.each(['coordinator', 'worker', 'trigger'])('medic-%s.service', (role) => {
  const u = unit(role);
  it('is not enabled by the package and keeps its state apart from the other roles', () => {
    // The package installs units only; an operator enables the roles a host should run.
    expect(u.get('Install.WantedBy')).toEqual(['multi-user.target']);
    expect(u.get('Service.StateDirectory')).toEqual([`medic/${role}`]);
  });
  it('runs its role with the /etc/medic config and validates it first', () => {
    expect(u.get('Service.ExecStart')).toEqual([`/usr/bin/medic ${role} --config /etc/medic`]);
    expect(u.get('Service.ExecStartPre')).toEqual(['/usr/bin/medic validate --config /etc/medic']);
  });
  it('reloads with SIGHUP and restarts on failure with a start limit', () => {
    expect(u.get('Service.ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(u.get('Service.Restart')).toEqual(['on-failure']);
    expect(u.get('Unit.StartLimitBurst')).toBeDefined();
  });
  it('is hardened', () => {
    for (const key of ['NoNewPrivileges', 'ProtectKernelLogs', 'RestrictAddressFamilies', 'MemoryMax']) {
      expect(u.get(`Service.${key}`)).toBeDefined();
    }
    if (role === 'worker') {
      // cleanDisk cleans the host's /tmp and /var/tmp: a private /tmp would hide them.
      expect(u.get('Service.PrivateTmp')).toBeUndefined();
    } else {
      expect(u.get('Service.PrivateTmp')).toEqual(['true']);
      expect(u.get('Service.User')).toEqual(['medic']);
      expect(u.get('Service.ProtectSystem')).toEqual(['strict']);
      expect(u.get('Service.CapabilityBoundingSet')).toEqual(['']);
    }
  });
});

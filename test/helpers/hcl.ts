// Reads HCL text through the real parser and a Decoder, for config unit tests.
import { Decoder } from '../../src/config/decoder';
import { Diagnostics } from '../../src/config/diagnostics';
import { parseHcl } from '../../src/config/hcl';

export async function decode<T>(
  text: string,
  read: (d: Decoder) => T,
  file = 'test.hcl',
): Promise<{ value: T; errors: string[]; warnings: string[] }> {
  const diag = new Diagnostics();
  const body = await parseHcl(file, text, diag);
  if (!body) throw new Error(`syntax error: ${JSON.stringify(diag.all)}`);
  const value = read(new Decoder(body, file, '', diag));
  const show = (d: { path?: string; message: string }) => `${d.path ?? ''}: ${d.message}`;
  return { value, errors: diag.errors.map(show), warnings: diag.warnings.map(show) };
}

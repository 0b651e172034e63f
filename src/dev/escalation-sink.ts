// The pager of `medic dev`: a loopback HTTP endpoint the worker's escalations post to, printing one
// line per page (and its diagnostics under it) so an escalation is visible where the user is
// looking. It reads medic's JSON pages, PagerDuty Events API v2 events and Slack incoming-webhook bodies.
import * as http from 'node:http';

/** Largest page accepted; pages are small JSON documents. */
const MAX_BODY = 256 * 1024;

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

function oneLine(s: string, max = 300): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Slack's text, else the text of its blocks/attachments. */
function slackText(b: Record<string, unknown>): string | undefined {
  const parts: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.text === 'string') parts.push(o.text);
      else if (o.text && typeof o.text === 'object') visit(o.text);
      if (typeof o.fallback === 'string' && typeof o.text !== 'string') parts.push(o.fallback);
      for (const k of ['fields', 'elements']) if (o[k]) visit(o[k]);
    }
  };
  visit(b.blocks);
  visit(b.attachments);
  return text(b.text) ?? (parts.length ? parts.join(' | ') : undefined);
}

/**
 * One line describing a page, by its format: PagerDuty Events v2 (`routing_key` + `event_action`),
 * Slack (`text`, `blocks` or `attachments`), or medic's JSON (any object; its summary, workflow,
 * target and outcome fields when present). Throws on a body that is not a JSON object.
 */
export function describePage(body: unknown): string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('a page is a JSON object');
  const b = body as Record<string, unknown>;
  // medic's JSON carries event_action and dedup_key too; PagerDuty's events always carry routing_key.
  if (typeof b.event_action === 'string' && ('routing_key' in b || 'payload' in b)) {
    const p = (b.payload && typeof b.payload === 'object' ? b.payload : {}) as Record<string, unknown>;
    const head = [`pagerduty ${b.event_action}`, text(p.severity)].filter(Boolean).join(' ');
    const tail = [text(p.source) && `source=${text(p.source)}`, text(b.dedup_key) && `dedup_key=${text(b.dedup_key)}`];
    return oneLine(`[${head}] ${text(p.summary) ?? '(no summary)'} ${tail.filter(Boolean).join(' ')}`);
  }
  if ('blocks' in b || 'attachments' in b || (typeof b.text === 'string' && Object.keys(b).every((k) => SLACK_KEYS.has(k)))) {
    return oneLine(`[slack] ${slackText(b) ?? '(no text)'}`);
  }
  const target = (b.target && typeof b.target === 'object' ? b.target : {}) as Record<string, unknown>;
  const summary = text(b.summary) ?? text(b.message) ?? text(b.title) ?? text(b.reason) ?? text(b.text);
  const facts = [
    text(b.event_action) ?? text(b.event) ?? text(b.status) ?? text(b.action),
    text(b.outcome) && `outcome=${text(b.outcome)}`,
    text(b.workflow) && `workflow=${text(b.workflow)}`,
    (text(target.node) ?? text(b.node)) && `node=${text(target.node) ?? text(b.node)}`,
    text(b.workflow_id) && `id=${text(b.workflow_id)}`,
    text(b.dedup_key) && `dedup_key=${text(b.dedup_key)}`,
  ].filter(Boolean);
  return oneLine(`[json] ${summary ?? '(no summary)'}${facts.length ? ` ${facts.join(' ')}` : ''}`);
}

/** Lines shown at most per diagnosis: the page has it in full. */
const DIAGNOSIS_LINES = 20;

/**
 * The diagnostics a page carries (medic's JSON `diagnostics`, PagerDuty `custom_details.diagnostics`),
 * as lines to print under it: "<name>:" then the output's last lines, indented.
 */
export function pageDiagnostics(body: unknown): string[] {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const payload = (b.payload && typeof b.payload === 'object' ? b.payload : {}) as Record<string, unknown>;
  const details = (payload.custom_details && typeof payload.custom_details === 'object' ? payload.custom_details : {}) as Record<
    string,
    unknown
  >;
  let found: Array<[string, string]> = [];
  if (Array.isArray(b.diagnostics)) {
    found = b.diagnostics
      .filter((d): d is { name: string; output: string } => typeof d?.name === 'string' && typeof d?.output === 'string')
      .map((d) => [d.name, d.output]);
  } else if (details.diagnostics && typeof details.diagnostics === 'object') {
    found = Object.entries(details.diagnostics as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    );
  }
  return found.flatMap(([name, output]) => {
    const lines = output.split('\n');
    const shown = lines.slice(-DIAGNOSIS_LINES).map((l) => `    ${l}`);
    return [`  diagnostics ${name}:${lines.length > DIAGNOSIS_LINES ? ` (last ${DIAGNOSIS_LINES} lines)` : ''}`, ...shown];
  });
}

const SLACK_KEYS = new Set(['text', 'username', 'icon_emoji', 'icon_url', 'channel', 'mrkdwn', 'unfurl_links', 'thread_ts']);

export interface EscalationSink {
  url: string;
  close(): Promise<void>;
}

/**
 * Listens on host:port (0: any free port) and calls `print` with one line per page posted to any
 * path. Answers 202 to a page, 400 to a body that is not a JSON object, 413 beyond 256 KiB.
 */
export async function startEscalationSink(opts: {
  host: string;
  port: number;
  print: (line: string) => void;
}): Promise<EscalationSink> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, message: string): void =>
      void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }) + '\n');
    if (req.method !== 'POST') return reply(405, 'POST a page here');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(413, `a page is at most ${MAX_BODY} bytes`);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let line: string;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        line = describePage(body);
      } catch (err) {
        return reply(400, `not a page: ${(err as Error).message}`);
      }
      opts.print(`PAGE ${line}`);
      for (const detail of pageDiagnostics(body)) opts.print(detail);
      reply(202, 'paged');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${opts.host}:${port}/escalations`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

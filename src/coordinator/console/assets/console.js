// medic web console: renders each view from /ui/api/ and polls it while shown. Every value goes
// into the page as text (textContent, attribute values set one by one): labels, params and
// reasons are attacker-shaped input. Actions go to the /v1 API with the session's CSRF token.
'use strict';

(function () {
  const POLL_MS = 2000;
  // Progress is asked of the newest running executions only: one query each, answered by a worker.
  const PROGRESS_ROWS = 20;
  const csrf = document.querySelector('meta[name="medic-csrf"]').getAttribute('content');
  const view = document.getElementById('view');
  const tabs = document.getElementById('tabs');
  const who = document.getElementById('who');
  const statusLine = document.getElementById('status');
  let session = null;
  let current = null;
  let timer = null;
  let generation = 0;

  /** An element: h('td', {class: 'x'}, 'text', child, ...). Strings become text nodes, never markup. */
  function h(tag, attrs) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else el.setAttribute(k, String(v));
    }
    for (let i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) c.forEach((x) => append(el, x));
    else el.appendChild(typeof c === 'object' && c.nodeType ? c : document.createTextNode(String(c)));
  }

  /** A link only to http(s) URLs the server built (Temporal UI); anything else is text. */
  function link(href, text) {
    return /^https?:\/\//.test(href || '') ? h('a', { href: href, target: '_blank', rel: 'noopener noreferrer' }, text) : text;
  }

  function table(headers, rows, empty) {
    if (rows.length === 0) return h('p', { class: 'empty' }, empty);
    return h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((x) => h('th', {}, x)),
        ),
      ),
      h('tbody', {}, rows),
    );
  }

  function target(t) {
    if (!t) return '';
    return [t.node, t.datacenter, t.node_type].filter(Boolean).join(' / ');
  }

  function seconds(s) {
    if (s === undefined || s === null) return '';
    if (s < 60) return s.toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' m ' + Math.round(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' m';
  }

  function time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  async function api(path, init) {
    const res = await fetch(path, Object.assign({ credentials: 'same-origin', headers: {} }, init));
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) {
      const err = new Error((body && body.message) || res.status + ' ' + res.statusText);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  /** A state-changing call to the /v1 API: JSON body, the CSRF token, same origin. */
  function act(method, path, body) {
    const headers = { 'x-medic-csrf': csrf };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return api(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = kind || '';
  }

  // ---- views: each returns { load(): Promise<data>, render(data): Node } ----

  const progressCache = new Map();

  function progressCell(e) {
    const cell = h('td', { class: 'progress' }, '…');
    const p = progressCache.get(e.workflow_id);
    if (p) fillProgress(cell, p);
    api('/ui/api/progress/' + encodeURIComponent(e.workflow_id))
      .then((r) => {
        if (r.progress) progressCache.set(e.workflow_id, r.progress);
        fillProgress(cell, r.progress);
      })
      .catch(() => fillProgress(cell, null));
    return cell;
  }

  function fillProgress(cell, p) {
    cell.textContent = '';
    if (!p) {
      cell.textContent = 'no answer yet';
      return;
    }
    const steps = (p.steps || []).map((s, i) =>
      h('li', { class: i + 1 < p.stepNumber ? 'done' : i + 1 === p.stepNumber ? 'now' : 'todo' }, s),
    );
    append(cell, [
      h('div', {}, 'step ' + p.stepNumber + '/' + (p.steps || []).length + ': ' + p.step),
      h('ol', { class: 'steps' }, steps),
    ]);
    if (p.detail) append(cell, h('div', { class: 'detail' }, p.detail));
  }

  const views = {
    now: {
      title: 'Now',
      load: () => Promise.all([api('/ui/api/running'), api('/ui/api/outcomes')]),
      render: ([running, outcomes]) =>
        h(
          'div',
          {},
          h('h2', {}, 'Running remediations ', h('span', { class: 'count', id: 'running-total' }, String(running.total))),
          table(
            ['workflow', 'target', 'trigger', 'started', 'progress', 'Temporal'],
            running.executions.map((e, i) =>
              h(
                'tr',
                { 'data-workflow-id': e.workflow_id },
                h('td', {}, e.workflow),
                h('td', {}, target(e.target)),
                h('td', {}, e.trigger || ''),
                h('td', {}, time(e.start_time)),
                i < PROGRESS_ROWS ? progressCell(e) : h('td', { class: 'progress' }, ''),
                h('td', {}, link(e.temporal_url, 'open')),
              ),
            ),
            'Nothing is running.',
          ),
          h('h2', {}, 'Recent outcomes'),
          table(
            ['workflow', 'target', 'outcome', 'time to heal', 'closed', 'Temporal'],
            outcomes.executions.map((e) =>
              h(
                'tr',
                { 'data-workflow-id': e.workflow_id, class: 'outcome-' + (e.outcome || e.status).toLowerCase() },
                h('td', {}, e.workflow),
                h('td', {}, target(e.target)),
                h('td', { class: 'outcome' }, e.outcome || e.status.toLowerCase()),
                h('td', {}, e.outcome === 'healed' ? seconds(e.duration_seconds) : ''),
                h('td', {}, time(e.close_time)),
                h('td', {}, link(e.temporal_url, 'open')),
              ),
            ),
            'No remediation has ended yet.',
          ),
        ),
    },
    refusals: {
      title: 'Refusals',
      load: () => api('/ui/api/refusals'),
      render: (r) =>
        h(
          'div',
          {},
          h('h2', {}, 'Refused starts'),
          trailScope(r),
          table(
            ['when', 'workflow', 'target', 'control', 'constraint', 'count', 'holders', 'why', 'caller', 'replica'],
            r.refusals.map((e) =>
              h(
                'tr',
                { class: 'refusal' },
                h('td', {}, time(e.time)),
                h('td', {}, e.workflow || ''),
                h('td', {}, target(e.target)),
                h('td', { class: 'control' }, e.control || ''),
                h('td', {}, e.constraint || ''),
                h('td', {}, e.count === undefined ? '' : String(e.count)),
                h('td', {}, (e.holders || []).join(', ')),
                h('td', { class: 'why' }, e.message || e.reason || ''),
                h('td', {}, (e.identity || 'anonymous') + (e.source ? ' via ' + e.source : '')),
                h('td', {}, e.replica || ''),
              ),
            ),
            'Nothing was refused.',
          ),
        ),
    },
    approvals: {
      title: 'Approvals',
      available: () => session && session.approvals,
      load: () => api('/v1/approvals'),
      render: (r) =>
        h(
          'div',
          {},
          h('h2', {}, 'Pending approvals'),
          table(
            ['workflow', 'target', 'params', 'requested by', 'why', 'expires', 'decide'],
            r.approvals.map((a) => {
              const reason = h('input', { type: 'text', placeholder: 'reason', 'aria-label': 'reason', class: 'reason' });
              const decide = (decision) => () =>
                act('POST', '/v1/approvals/' + encodeURIComponent(a.approval_id), {
                  decision: decision,
                  reason: reason.value || decision + 'd in the console',
                })
                  .then(() => say(decision === 'approve' ? 'Approved.' : 'Denied.', 'ok'))
                  .catch((e) => say('Not ' + decision + 'd: ' + e.message, 'error'))
                  .then(refresh);
              return h(
                'tr',
                { 'data-approval-id': a.approval_id },
                h('td', {}, a.workflow),
                h('td', {}, target(a.target)),
                h(
                  'td',
                  {},
                  Object.entries(a.params || {})
                    .map(([k, v]) => k + '=' + v)
                    .join(' '),
                ),
                h('td', {}, a.requester || 'anonymous'),
                h('td', {}, [a.reason, a.why].filter(Boolean).join(' — ')),
                h('td', {}, time(a.expires_at)),
                h(
                  'td',
                  {},
                  reason,
                  h('button', { class: 'approve', on: { click: decide('approve') } }, 'Approve'),
                  h('button', { class: 'deny', on: { click: decide('deny') } }, 'Deny'),
                ),
              );
            }),
            'No request waits for approval.',
          ),
        ),
    },
    pauses: {
      title: 'Pauses',
      poll: false,
      load: () => api('/ui/api/pauses'),
      render: (r) => {
        const wf = h(
          'select',
          { name: 'workflow', 'aria-label': 'workflow' },
          h('option', { value: '' }, 'every workflow'),
          (session.workflows || []).map((w) => h('option', { value: w }, w)),
        );
        const dc = h('input', { name: 'datacenter', placeholder: 'datacenter (all)', 'aria-label': 'datacenter' });
        const nt = h('input', { name: 'node_type', placeholder: 'node type (all)', 'aria-label': 'node type' });
        const reason = h('input', {
          name: 'reason',
          placeholder: 'reason (required)',
          'aria-label': 'reason',
          required: 'required',
        });
        const dur = h('input', { name: 'for', placeholder: 'for (e.g. 2h; empty: until resumed)', 'aria-label': 'for' });
        const form = h(
          'form',
          {
            id: 'pause-form',
            on: {
              submit: (ev) => {
                ev.preventDefault();
                const body = { reason: reason.value };
                if (wf.value) body.workflow = wf.value;
                if (dc.value) body.datacenter = dc.value;
                if (nt.value) body.node_type = nt.value;
                if (dur.value) body.for = dur.value;
                act('POST', '/v1/pauses', body).then(
                  (p) => {
                    say('Paused: ' + p.description, 'ok');
                    return refreshUntil((r) => r.pauses.some((x) => x.description === p.description));
                  },
                  (e) => {
                    say('Not paused: ' + e.message, 'error');
                    return refresh();
                  },
                );
              },
            },
          },
          wf,
          dc,
          nt,
          reason,
          dur,
          h('button', { type: 'submit', id: 'pause' }, 'Pause'),
        );
        return h(
          'div',
          {},
          h('h2', {}, 'Pause remediation'),
          form,
          h('h2', {}, 'Pauses in force'),
          table(
            ['scope', 'reason', 'by', 'since', 'until', ''],
            r.pauses.map((p) => {
              const q = new URLSearchParams();
              for (const [k, v] of Object.entries(p.scope || {})) q.set(k, v);
              q.set('reason', 'resumed in the console');
              return h(
                'tr',
                { class: 'pause' },
                h('td', { class: 'scope' }, p.description),
                h('td', {}, p.reason),
                h('td', {}, p.by),
                h('td', {}, time(p.since)),
                h('td', {}, p.until ? time(p.until) : 'until resumed'),
                h(
                  'td',
                  {},
                  h(
                    'button',
                    {
                      class: 'resume',
                      on: {
                        click: () =>
                          act('DELETE', '/v1/pauses?' + q.toString()).then(
                            () => {
                              say('Resumed: ' + p.description, 'ok');
                              return refreshUntil((r) => r.pauses.every((x) => x.description !== p.description));
                            },
                            (e) => {
                              say('Not resumed: ' + e.message, 'error');
                              return refresh();
                            },
                          ),
                      },
                    },
                    'Resume',
                  ),
                ),
              );
            }),
            'Nothing is paused.',
          ),
        );
      },
    },
    holds: {
      title: 'Holds & budgets',
      load: () => api('/ui/api/holds'),
      render: (r) =>
        h(
          'div',
          {},
          r.unavailable ? h('p', { class: 'error' }, r.unavailable) : null,
          h('h2', {}, 'Disruptive holds per node'),
          table(
            ['node', 'execution', 'workflow', 'trigger', 'since'],
            r.holds.map((x) =>
              h(
                'tr',
                {},
                h('td', {}, x.node || ''),
                h('td', {}, x.execution),
                h('td', {}, x.workflow),
                h('td', {}, x.trigger),
                h('td', {}, time(x.since)),
              ),
            ),
            'No node is held.',
          ),
          h('h2', {}, 'Budgets'),
          table(
            ['budget', 'scope', 'use', '', 'held by'],
            r.budgets.map((b) =>
              h(
                'tr',
                {},
                h('td', {}, b.budget),
                h('td', {}, b.scope),
                h('td', {}, b.limit === undefined ? b.used + ' (' + b.problem + ')' : b.used + ' / ' + b.limit),
                h('td', {}, bar(b.used, b.limit)),
                h('td', {}, b.holders.join(', ')),
              ),
            ),
            'No budget is configured.',
          ),
        ),
    },
    shadow: {
      title: 'Shadow',
      load: () => api('/ui/api/shadow'),
      render: (r) =>
        h(
          'div',
          {},
          h('h2', {}, 'Shadow admissions (would have started)'),
          table(
            ['when', 'workflow', 'target', 'params', 'trigger', 'reason'],
            r.shadow_admissions.map((s) =>
              h(
                'tr',
                {},
                h('td', {}, time(s.time)),
                h('td', {}, s.workflow),
                h('td', {}, target(s.target)),
                h(
                  'td',
                  {},
                  Object.entries(s.params || {})
                    .map(([k, v]) => k + '=' + v)
                    .join(' '),
                ),
                h('td', {}, s.trigger || ''),
                h('td', {}, s.reason || ''),
              ),
            ),
            'No shadow admission recorded.',
          ),
        ),
    },
    stats: {
      title: 'Stats',
      load: () => api('/ui/api/stats'),
      render: (r) =>
        h(
          'div',
          {},
          h('h2', {}, 'Effectiveness over 7 days'),
          r.workflows.length === 0
            ? h('p', { class: 'empty' }, 'No execution in the last 7 days.')
            : r.workflows.map((w) =>
                h(
                  'section',
                  { class: 'stat' },
                  h('h3', {}, w.workflow),
                  h(
                    'p',
                    {},
                    w.executions +
                      ' executions, recurrence ' +
                      (w.recurrenceRate * 100).toFixed(0) +
                      '%' +
                      (w.timeToHealSeconds
                        ? ', time to heal p50 ' + seconds(w.timeToHealSeconds.p50) + ', p90 ' + seconds(w.timeToHealSeconds.p90)
                        : ''),
                  ),
                  outcomeChart(w.outcomes || {}, w.executions),
                ),
              ),
        ),
    },
    audit: {
      title: 'Audit',
      poll: false,
      filter: {},
      load: function () {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(this.filter)) if (v) q.set(k, v);
        return api('/ui/api/audit?' + q.toString());
      },
      render: function (r) {
        const filter = this.filter;
        const field = (name) => h('input', { name: name, placeholder: name, 'aria-label': name, value: filter[name] || '' });
        const inputs = ['workflow', 'node', 'identity'].map(field);
        return h(
          'div',
          {},
          h('h2', {}, 'Audit trail'),
          trailScope(r),
          h(
            'form',
            {
              id: 'audit-form',
              on: {
                submit: (ev) => {
                  ev.preventDefault();
                  inputs.forEach((i) => (filter[i.name] = i.value));
                  refresh();
                },
              },
            },
            inputs,
            h('button', { type: 'submit' }, 'Search'),
          ),
          table(
            ['when', 'decision', 'identity', 'workflow', 'target', 'what', 'details', 'replica'],
            r.entries.map((e) =>
              h(
                'tr',
                { class: 'audit' },
                h('td', {}, time(e.time)),
                h('td', {}, e.decision),
                h('td', {}, e.identity || 'anonymous'),
                h('td', {}, e.workflow || ''),
                h('td', {}, target(e.target)),
                h('td', {}, [e.method, e.path].filter(Boolean).join(' ') || e.source || ''),
                h('td', {}, [e.constraint, e.message, e.reason, e.workflow_id].filter(Boolean).join(' — ')),
                h('td', {}, e.replica || ''),
              ),
            ),
            'No audit line matches.',
          ),
        );
      },
    },
  };

  /** Whose lines a trail view shows: every coordinator's (the audit journal), or this one's only, and why. */
  function trailScope(r) {
    return r.scope === 'all_replicas'
      ? h('p', { class: 'scope' }, 'All coordinators (the audit journal).')
      : h('p', { class: 'scope warning' }, 'This replica only: ' + (r.unavailable || 'the audit journal did not answer') + '.');
  }

  function bar(used, limit) {
    const svgNs = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(svgNs, 'svg');
    svg.setAttribute('width', '120');
    svg.setAttribute('height', '12');
    svg.setAttribute('class', 'bar');
    const back = document.createElementNS(svgNs, 'rect');
    back.setAttribute('width', '120');
    back.setAttribute('height', '12');
    back.setAttribute('class', 'bar-back');
    const fill = document.createElementNS(svgNs, 'rect');
    const share = limit ? Math.min(1, used / limit) : used > 0 ? 1 : 0;
    fill.setAttribute('width', String(Math.round(120 * share)));
    fill.setAttribute('height', '12');
    fill.setAttribute('class', share >= 1 ? 'bar-full' : 'bar-fill');
    svg.appendChild(back);
    svg.appendChild(fill);
    return svg;
  }

  function outcomeChart(outcomes, total) {
    const box = h('div', { class: 'chart' });
    for (const [name, n] of Object.entries(outcomes)) {
      append(box, h('div', { class: 'chart-row' }, h('span', { class: 'chart-label' }, name + ' ' + n), bar(n, total)));
    }
    return box;
  }

  // ---- navigation and polling ----

  function visibleViews() {
    return Object.keys(views).filter((k) => !views[k].available || views[k].available());
  }

  function drawTabs() {
    tabs.textContent = '';
    for (const key of visibleViews()) {
      append(
        tabs,
        h(
          'button',
          { 'data-view': key, class: key === current ? 'tab active' : 'tab', on: { click: () => show(key) } },
          views[key].title,
        ),
      );
    }
  }

  async function refresh(preloaded) {
    const mine = generation;
    const v = views[current];
    try {
      const data = await (preloaded || v.load());
      if (mine !== generation) return;
      const node = v.render(data);
      view.textContent = '';
      view.appendChild(node);
      view.setAttribute('data-loaded', current);
      // The first view on the page, for the browser's performance timeline (npm run bench:console reads it).
      if (performance.getEntriesByName('medic-first-view').length === 0) performance.mark('medic-first-view');
    } catch (e) {
      if (mine !== generation) return;
      say(e.status === 403 ? 'Forbidden: ' + e.message : 'Could not load ' + v.title + ': ' + e.message, 'error');
    }
  }

  /**
   * After an action: the view is read again until it shows the action's effect (`shows(data)`),
   * at most 10 s. Pauses are listed from Temporal's visibility, which lags a write: one read
   * right after it may not have it yet, and that view does not poll.
   */
  async function refreshUntil(shows) {
    const mine = generation;
    for (let i = 0; i < 20; i++) {
      const data = await views[current].load().catch(() => undefined);
      if (mine !== generation) return;
      if (data && shows(data)) return refresh(Promise.resolve(data));
      await new Promise((r) => setTimeout(r, 500));
    }
    return refresh();
  }

  function show(key, preloaded) {
    current = key;
    generation++;
    say('');
    if (timer) clearInterval(timer);
    view.removeAttribute('data-loaded');
    if (location.hash !== '#' + key) history.replaceState(null, '', '#' + key);
    drawTabs();
    refresh(preloaded);
    // Views with forms are refreshed after each action, not under the person typing.
    if (views[key].poll !== false)
      timer = setInterval(() => {
        // Not under someone typing (an approval's reason): a new table would drop what they typed.
        const a = document.activeElement;
        const typing = a && view.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
        if (!document.hidden && !typing) refresh();
      }, POLL_MS);
  }

  async function start() {
    // The first view's data is asked for beside the session, not after it: one round trip less.
    const first = location.hash.slice(1) || 'now';
    const preloaded = first === 'now' ? views.now.load() : null;
    if (preloaded) preloaded.catch(() => {});
    try {
      session = await api('/ui/api/session');
    } catch (e) {
      say('Cannot load the console: ' + e.message, 'error');
      return;
    }
    who.textContent = '';
    append(
      who,
      (session.name ? session.name + ' as ' : '') +
        (session.identity || 'anonymous') +
        (session.via ? ' (' + session.via + ')' : ''),
    );
    if (session.sign_out) {
      append(
        who,
        h(
          'button',
          {
            id: 'sign-out',
            on: {
              click: () =>
                act('POST', '/ui/auth/logout')
                  .then(() => location.reload())
                  .catch((e) => say('Not signed out: ' + e.message, 'error')),
            },
          },
          'Sign out',
        ),
      );
    }
    show(visibleViews().includes(first) ? first : 'now', first === 'now' ? preloaded : null);
  }

  start();
})();

// The console's HTML: the page shell the script fills in, and short message pages (sign-in
// answers, refusals). No inline script or style (the CSP forbids them); every value is escaped.

/** Served on every /ui/ response: scripts and styles only from the console itself, nothing framed, nothing sent elsewhere. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in HTML content and in a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** The console: a shell whose script (assets/console.js) renders every view from /ui/api/. */
export function consolePage(csrfToken: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="medic-csrf" content="${escapeHtml(csrfToken)}">
<title>medic console</title>
<link rel="stylesheet" href="/ui/assets/console.css">
<script src="/ui/assets/console.js" defer></script>
</head>
<body>
<header><h1>medic</h1><nav id="tabs" aria-label="views"></nav><span id="who"></span></header>
<p id="status" role="status"></p>
<main id="view"></main>
</body>
</html>
`;
}

/** A short page with a message and links (each [text, href] with an href of this console). */
export function messagePage(title: string, message: string, links: Array<[string, string]> = [], refreshTo?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${refreshTo ? `<meta http-equiv="refresh" content="0;url=${escapeHtml(refreshTo)}">\n` : ''}<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/ui/assets/console.css">
</head>
<body class="message">
<h1>${escapeHtml(title)}</h1>
<p id="message">${escapeHtml(message)}</p>
${links.map(([text, href]) => `<p><a href="${escapeHtml(href)}">${escapeHtml(text)}</a></p>`).join('\n')}
</body>
</html>
`;
}

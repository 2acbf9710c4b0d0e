// Real-browser test of the Task API's Swagger UI (served at /docs, assets inline).
//
//   BASE_URL=http://127.0.0.1:18701 node swagger-ui.mjs
//
// Checks, in Debian's Chromium driven by playwright-core:
//   1. the page never requests anything outside BASE_URL's origin;
//   2. Swagger UI renders, and lists exactly the document's operations (path + method, and the
//      operationId in each block's deep-link id), read from ${BASE_URL}/openapi.json;
//   3. createUser (POST /users): "Try it out" -> empty body -> "Execute" shows 201 and a JSON
//      body with an `id` in the response panel.
// On failure: a clear message, a screenshot under artifacts/ (git-ignored), and exit code 1.

import { chromium } from 'playwright-core';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(HERE, 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'swagger-ui-failure.png');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 30_000;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

class CheckFailed extends Error {}
const fail = (message) => {
  throw new CheckFailed(message);
};
const ok = (message) => console.log(`  ok  ${message}`);

const rawBase = process.env.BASE_URL;
if (!rawBase) {
  console.error('swagger-ui: BASE_URL is not set (e.g. BASE_URL=http://127.0.0.1:18701)');
  process.exit(2);
}
let base;
try {
  base = new URL(rawBase);
} catch {
  console.error(`swagger-ui: BASE_URL is not a URL: ${rawBase}`);
  process.exit(2);
}
const BASE = rawBase.replace(/\/+$/, '');
const DOCS_URL = `${BASE}/docs`;
const SPEC_URL = `${BASE}/openapi.json`;

// The document's operations, read the way a client would (not from the page).
async function documentOperations() {
  let res;
  try {
    res = await fetch(SPEC_URL);
  } catch (e) {
    fail(`cannot fetch ${SPEC_URL}: ${e.cause?.message ?? e.message} (is the server running?)`);
  }
  if (res.status !== 200) fail(`GET ${SPEC_URL} answered ${res.status}, expected 200`);
  const doc = await res.json();
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      if (!op.operationId) fail(`${method.toUpperCase()} ${path} has no operationId in ${SPEC_URL}`);
      ops.push({ method, path, operationId: op.operationId, tags: op.tags?.length ? op.tags : ['default'] });
    }
  }
  if (ops.length === 0) fail(`${SPEC_URL} has no operations`);
  return ops;
}

// Requests that left BASE_URL's origin; data:/blob: URLs are in-page, not network requests.
function foreignRequests(requests) {
  return requests.filter((r) => {
    const u = new URL(r.url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.href === 'about:blank') return false;
    return u.origin !== base.origin;
  });
}
const describeForeign = (foreign) =>
  `the page made ${foreign.length} request(s) outside ${base.origin}:\n` +
  foreign.map((r) => `    ${r.method} ${r.url} (${r.type})`).join('\n');

const key = (method, path) => `${method.toUpperCase()} ${path}`;

async function main() {
  const started = Date.now();
  console.log(`swagger-ui: BASE_URL=${BASE}, browser ${CHROMIUM}`);

  const ops = await documentOperations();
  console.log(`swagger-ui: ${SPEC_URL} has ${ops.length} operations`);

  // A fresh profile per run. Playwright refuses `--user-data-dir` in `args` (it adds that flag
  // itself), so the fresh directory is handed over through launchPersistentContext, which passes
  // it to Chromium as `--user-data-dir=<dir>`. Playwright also adds `--headless` and
  // `--no-sandbox` itself; repeating them here is harmless and keeps them explicit.
  const userDataDir = await mkdtemp(join(tmpdir(), 'task-api-swagger-ui-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 900 },
    timeout: TIMEOUT_MS,
  });

  // Every request of every page of the context, whoever started it.
  const requests = [];
  const pageErrors = [];
  const watch = (p) => {
    p.on('request', (r) => requests.push({ url: r.url(), method: r.method(), type: r.resourceType() }));
    p.on('pageerror', (e) => pageErrors.push(e.message));
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  if (context.pages()[0] === page) watch(page);
  page.setDefaultTimeout(TIMEOUT_MS);

  try {
    // 1. Load /docs and wait for Swagger UI to render the operations.
    const nav = await page.goto(DOCS_URL, { waitUntil: 'load' });
    if (!nav || nav.status() !== 200) fail(`GET ${DOCS_URL} answered ${nav?.status()}, expected 200`);
    try {
      await page.locator('#swagger-ui .information-container .title, .swagger-ui .info .title').first().waitFor();
      await page.locator('.swagger-ui .opblock').first().waitFor();
    } catch {
      const err = await page.locator('.swagger-ui .errors-wrapper').innerText().catch(() => '');
      fail(`Swagger UI did not render any operation at ${DOCS_URL}${err ? `; it shows: ${err}` : ''}`);
    }
    ok(`Swagger UI rendered at ${DOCS_URL} (title: ${JSON.stringify(await page.title())})`);
    const errorsPanel = page.locator('.swagger-ui .errors-wrapper');
    if (await errorsPanel.count()) fail(`Swagger UI shows errors: ${await errorsPanel.innerText()}`);
    ok('Swagger UI shows no errors panel');

    // 2. Every operation listed, and nothing else. Each .opblock carries its method and path
    //    (.opblock-summary-path[data-path]) and a deep-link id `operations-<tag>-<operationId>`.
    const blocks = await page.$$eval('.swagger-ui .opblock', (els) =>
      els.map((el) => ({
        id: el.id,
        method: (el.querySelector('.opblock-summary-method')?.textContent ?? '').trim().toLowerCase(),
        path:
          el.querySelector('.opblock-summary-path')?.getAttribute('data-path') ??
          (el.querySelector('.opblock-summary-path')?.textContent ?? '').replace(/\u200b/g, '').trim(),
      })),
    );
    const shown = new Map(blocks.map((b) => [key(b.method, b.path), b]));
    const expected = new Map(ops.map((o) => [key(o.method, o.path), o]));
    const missing = [...expected.keys()].filter((k) => !shown.has(k));
    const extra = [...shown.keys()].filter((k) => !expected.has(k));
    if (missing.length || extra.length) {
      fail(
        `operations in Swagger UI differ from ${SPEC_URL}:` +
          (missing.length ? ` missing ${missing.join(', ')};` : '') +
          (extra.length ? ` not in the document ${extra.join(', ')};` : ''),
      );
    }
    const ids = new Set(blocks.map((b) => b.id));
    const noDeepLink = ops.filter((o) => !o.tags.some((t) => ids.has(`operations-${t}-${o.operationId}`)));
    if (noDeepLink.length) {
      fail(
        `operationIds not found in Swagger UI's operation blocks: ` +
          noDeepLink.map((o) => `${o.operationId} (${key(o.method, o.path)})`).join(', '),
      );
    }
    for (const o of ops) ok(`listed: ${key(o.method, o.path).padEnd(38)} ${o.operationId}`);
    ok(`all ${ops.length} operations listed (${blocks.length} blocks), none extra`);

    // 3. createUser: Try it out -> empty body -> Execute -> 201 with a JSON body with an id.
    const create = ops.find((o) => o.operationId === 'createUser');
    if (!create) fail(`${SPEC_URL} has no createUser operation`);
    if (key(create.method, create.path) !== 'POST /users') {
      fail(`createUser is ${key(create.method, create.path)}, expected POST /users`);
    }
    const block = page.locator(`.swagger-ui .opblock[id="operations-${create.tags[0]}-createUser"]`);
    await block.locator('.opblock-summary').first().click();
    const tryItOut = block.getByRole('button', { name: 'Try it out' });
    try {
      await tryItOut.waitFor();
    } catch {
      fail('createUser: no "Try it out" button after expanding the operation');
    }
    await tryItOut.click();
    ok('createUser: expanded, clicked "Try it out"');

    const bodyBox = block.locator('textarea.body-param__text');
    let bodySent = '(no body editor)';
    if (await bodyBox.count()) {
      await bodyBox.fill('');
      bodySent = '(empty)';
    }
    const execute = block.locator('button.execute');
    await execute.click();
    // Swagger UI demands a body when it marks the editor invalid and does not send the request.
    const invalid = block.locator('textarea.body-param__text.invalid');
    await Promise.race([
      block.locator('.live-responses-table tbody tr.response .response-col_status').first().waitFor(),
      invalid.waitFor().catch(() => new Promise(() => {})),
    ]);
    if (await invalid.count()) {
      ok('createUser: Swagger UI demanded a request body; using {}');
      await bodyBox.fill('{}');
      bodySent = '{}';
      await execute.click();
      await block.locator('.live-responses-table tbody tr.response .response-col_status').first().waitFor();
    }
    ok(`createUser: clicked "Execute" with request body ${bodySent}`);

    const live = block.locator('.live-responses-table');
    const status = (await live.locator('tbody tr.response .response-col_status').first().innerText()).trim();
    const bodyText = (
      await live
        .locator('tbody tr.response .response-col_description .highlight-code pre')
        .first()
        .innerText()
        .catch(() => '')
    ).trim();
    const requestUrl = (await block.locator('.request-url pre').first().innerText().catch(() => '')).trim();
    if (requestUrl) ok(`createUser: Swagger UI requested ${requestUrl}`);
    if (status !== '201') {
      const hint = /Failed to fetch|CORS|NetworkError/i.test(bodyText + status)
        ? ' (Swagger UI could not reach the server: network, CORS or mixed-content problem)'
        : '';
      fail(`createUser: response panel shows status ${JSON.stringify(status)}, expected 201${hint}; body: ${bodyText || '(none)'}`);
    }
    ok('createUser: response panel shows status 201');
    let body;
    try {
      body = JSON.parse(bodyText);
    } catch {
      fail(`createUser: response body in the panel is not JSON: ${bodyText || '(none)'}`);
    }
    if (!body || typeof body !== 'object' || typeof body.id !== 'string' || body.id === '') {
      fail(`createUser: response body has no string "id": ${bodyText}`);
    }
    ok(`createUser: response body is JSON with id ${body.id}`);
    const headerLines = await live.locator('tbody tr.response .headerline').allInnerTexts();
    const contentType = headerLines.map((h) => h.trim()).find((h) => /^content-type:/i.test(h));
    ok(`createUser: response headers shown: ${headerLines.map((h) => h.trim()).join('; ') || '(none)'}`);
    if (!contentType || !/application\/json/i.test(contentType)) {
      fail(`createUser: response content-type is not JSON: ${contentType ?? '(no content-type header shown)'}`);
    }

    // 4. No request left BASE_URL's origin (checked last, so Execute's requests count too).
    const foreign = foreignRequests(requests);
    if (foreign.length) fail(describeForeign(foreign));
    const byKind = requests.reduce((m, r) => {
      const u = new URL(r.url);
      const k = u.protocol === 'data:' || u.protocol === 'blob:' ? `${u.protocol} ${r.type}` : `${r.method} ${u.pathname}`;
      m[k] = (m[k] ?? 0) + 1;
      return m;
    }, {});
    ok(
      `all ${requests.length} requests stayed on ${base.origin}: ` +
        Object.entries(byKind).map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(', '),
    );
    if (pageErrors.length) console.log(`  note: uncaught page errors: ${pageErrors.join(' | ')}`);

    console.log(`swagger-ui: PASS in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (e) {
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = await page
      .screenshot({ path: SCREENSHOT, fullPage: true })
      .then(() => SCREENSHOT)
      .catch((err) => `(screenshot failed: ${err.message})`);
    const foreign = foreignRequests(requests);
    if (foreign.length && !(e instanceof CheckFailed && e.message.includes('outside'))) {
      console.error(`swagger-ui: FAIL: ${describeForeign(foreign)}`);
    }
    if (pageErrors.length) console.error(`  uncaught page errors: ${pageErrors.join(' | ')}`);
    console.error(`swagger-ui: FAIL: ${e instanceof CheckFailed ? e.message : e.stack}`);
    console.error(`swagger-ui: screenshot: ${shot}`);
    process.exitCode = 1;
  } finally {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  }
}

main().catch((e) => {
  console.error(`swagger-ui: FAIL: ${e instanceof CheckFailed ? e.message : e.stack}`);
  process.exitCode = 1;
});

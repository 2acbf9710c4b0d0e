// Real-browser test of the Task API's Swagger UI (served at /docs, assets inline), against a
// server with authentication on.
//
//   BASE_URL=http://127.0.0.1:18701 AUTH_JWT_SECRET=... AUTH_ISSUER=https://issuer.example \
//     node swagger-ui.mjs
//
// AUTH_JWT_SECRET is the server's HS256 secret; a JWT for a fresh random user id (sub) is minted
// here with node:crypto (iss from AUTH_ISSUER and aud from AUTH_AUDIENCE when they are set).
// Checks, in Debian's Chromium driven by playwright-core:
//   1. the page never requests anything outside BASE_URL's origin;
//   2. Swagger UI renders, and lists exactly the document's operations (path + method, and the
//      operationId in each block's deep-link id), read from ${BASE_URL}/openapi.json;
//   3. createUser (POST /users): "Try it out" -> empty body -> "Execute" without authorizing
//      shows 401 UNAUTHORIZED, and no Authorization header was sent;
//   4. "Authorize": the token pasted into the bearerAuth dialog, authorized (the dialog says so,
//      the Authorize button shows locked), closed; createUser "Execute" again shows 201 with the
//      token's sub as the id, sent with `Authorization: Bearer <token>`;
//   5. after a reload the authorization is still there (persistAuthorization: the button shows
//      locked, the dialog shows bearerAuth authorized), and getCurrentUser (GET /me) "Try it
//      out" -> "Execute" shows 200 with that id, without pasting the token again.
// On failure: a clear message, a screenshot under artifacts/ (git-ignored), and exit code 1.

import { chromium } from 'playwright-core';
import { createHmac, randomUUID } from 'node:crypto';
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

const SECRET = process.env.AUTH_JWT_SECRET;
if (!SECRET) {
  console.error("swagger-ui: AUTH_JWT_SECRET is not set: it must be the server's HS256 secret (authentication on)");
  process.exit(2);
}

// An HS256 JWT for `sub` (node:crypto only): header.claims.signature, each base64url.
function mintToken(sub) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, iat: now, exp: now + 600 };
  if (process.env.AUTH_ISSUER) claims.iss = process.env.AUTH_ISSUER;
  if (process.env.AUTH_AUDIENCE) claims.aud = process.env.AUTH_AUDIENCE;
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
}

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

const isLocked = async (button) => /\blocked\b/.test((await button.getAttribute('class')) ?? '');

// The bearerAuth scheme's part of the Authorize dialog.
const bearerSection = (dialog) =>
  dialog.locator('.auth-container').filter({ has: dialog.page().locator('h4 code', { hasText: /^bearerAuth$/ }) });

// Expand an operation and click "Try it out".
async function tryItOut(block, what) {
  await block.locator('.opblock-summary').first().click();
  const button = block.getByRole('button', { name: 'Try it out' });
  try {
    await button.waitFor();
  } catch {
    fail(`${what}: no "Try it out" button after expanding the operation`);
  }
  await button.click();
  ok(`${what}: expanded, clicked "Try it out"`);
}

// Click "Execute" and read the response panel once it shows the answer to this very request.
// Returns what the panel shows and the Authorization header the request carried.
async function execute(block, what, method, path, bodyBox) {
  const page = block.page();
  const url = `${BASE}${path}`;
  const matches = (r) => r.url() === url && r.request().method() === method;
  const button = block.locator('button.execute');
  let bodySent;
  let answered = page.waitForResponse(matches);
  answered.catch(() => {}); // awaited below, or dropped when Swagger UI sends nothing
  await button.click();
  // Swagger UI demands a body when it marks the editor invalid and does not send the request.
  const invalid = block.locator('textarea.body-param__text.invalid');
  const first = await Promise.race([answered, invalid.waitFor().then(() => 'invalid', () => new Promise(() => {}))]);
  if (first === 'invalid') {
    ok(`${what}: Swagger UI demanded a request body; using {}`);
    await bodyBox.fill('{}');
    bodySent = '{}';
    answered = page.waitForResponse(matches);
    await button.click();
  }
  const response = await answered;
  const status = block.locator('.live-responses-table tbody tr.response .response-col_status').first();
  const expected = String(response.status());
  try {
    await page.waitForFunction(
      ([el, want]) => el && el.isConnected && el.textContent.trim() === want,
      [await status.elementHandle(), expected],
    );
  } catch {
    const showing = JSON.stringify(await status.innerText().catch(() => ''));
    fail(`${what}: the server answered ${expected} but the response panel shows ${showing}`);
  }
  const live = block.locator('.live-responses-table');
  const bodyText = (
    await live
      .locator('tbody tr.response .response-col_description .highlight-code pre')
      .first()
      .innerText()
      .catch(() => '')
  ).trim();
  return {
    status: (await status.innerText()).trim(),
    bodyText,
    bodySent,
    headers: (await live.locator('tbody tr.response .headerline').allInnerTexts()).map((h) => h.trim()),
    requestUrl: (await block.locator('.request-url pre').first().innerText().catch(() => '')).trim(),
    authorization: (await response.request().allHeaders()).authorization ?? null,
  };
}

function expectStatus(shown, expected, what) {
  if (shown.status !== expected) {
    const hint = /Failed to fetch|CORS|NetworkError/i.test(shown.bodyText + shown.status)
      ? ' (Swagger UI could not reach the server: network, CORS or mixed-content problem)'
      : '';
    fail(
      `${what}: response panel shows status ${JSON.stringify(shown.status)}, expected ${expected}${hint}; ` +
        `body: ${shown.bodyText || '(none)'}`,
    );
  }
}

function parseBody(shown, what) {
  try {
    return JSON.parse(shown.bodyText);
  } catch {
    fail(`${what}: response body in the panel is not JSON: ${shown.bodyText || '(none)'}`);
  }
}

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

    const userId = randomUUID();
    const token = mintToken(userId);
    console.log(`swagger-ui: a token for user ${userId}`);
    const blockOf = (operationId, method, path) => {
      const op = ops.find((o) => o.operationId === operationId);
      if (!op) fail(`${SPEC_URL} has no ${operationId} operation`);
      if (key(op.method, op.path) !== key(method, path)) {
        fail(`${operationId} is ${key(op.method, op.path)}, expected ${key(method, path)}`);
      }
      return page.locator(`.swagger-ui .opblock[id="operations-${op.tags[0]}-${operationId}"]`);
    };
    const authorizeButton = page.locator('.swagger-ui .auth-wrapper button.authorize');

    // 3. createUser: Try it out -> empty body -> Execute without authorizing -> 401.
    let block = blockOf('createUser', 'post', '/users');
    await tryItOut(block, 'createUser');
    const bodyBox = block.locator('textarea.body-param__text');
    let bodySent = '(no body editor)';
    if (await bodyBox.count()) {
      await bodyBox.fill('');
      bodySent = '(empty)';
    }
    let panel = await execute(block, 'createUser without authorizing', 'POST', '/users', bodyBox);
    if (panel.bodySent) bodySent = panel.bodySent;
    ok(`createUser: clicked "Execute" with request body ${bodySent}, not authorized`);
    if (panel.authorization !== null) fail(`createUser without authorizing sent Authorization: ${panel.authorization}`);
    expectStatus(panel, '401', 'createUser without authorizing');
    const refused = parseBody(panel, 'createUser without authorizing');
    if (refused?.error?.code !== 'UNAUTHORIZED') {
      fail(`createUser without authorizing: error.code ${JSON.stringify(refused?.error?.code)}, not "UNAUTHORIZED"`);
    }
    const challenge = panel.headers.find((h) => /^www-authenticate:/i.test(h));
    ok(`createUser without authorizing: 401 UNAUTHORIZED, no Authorization sent${challenge ? `, ${challenge}` : ''}`);

    // 4. Authorize: paste the token into the bearerAuth dialog, authorize, close; Execute -> 201.
    if (!(await authorizeButton.count())) fail('no "Authorize" button: the document has no security scheme?');
    if (await isLocked(authorizeButton)) fail('the "Authorize" button shows locked before authorizing');
    await authorizeButton.click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    try {
      await dialog.waitFor();
    } catch {
      fail('clicking "Authorize" opened no dialog');
    }
    const scheme = bearerSection(dialog);
    if (!(await scheme.count())) {
      fail(`the Authorize dialog has no bearerAuth section; it shows: ${(await dialog.innerText()).trim()}`);
    }
    const input = scheme.locator('input');
    if ((await input.count()) !== 1) fail(`the bearerAuth section has ${await input.count()} inputs, expected 1`);
    await input.fill(token);
    await scheme.getByRole('button', { name: 'Apply credentials' }).click();
    try {
      await scheme.getByText('Authorized', { exact: true }).waitFor();
    } catch {
      fail(`the bearerAuth section does not say "Authorized" after "Authorize": ${(await scheme.innerText()).trim()}`);
    }
    if ((await input.count()) !== 0) fail('the bearerAuth section still offers the value input after "Authorize"');
    ok('Authorize: token pasted into bearerAuth, "Authorize" clicked, the dialog says "Authorized"');
    await dialog.locator('button.btn-done').click();
    await dialog.waitFor({ state: 'detached' });
    if (!(await isLocked(authorizeButton))) fail('the "Authorize" button does not show locked after authorizing');
    ok('Authorize: dialog closed, the "Authorize" button shows locked');

    if (await bodyBox.count()) await bodyBox.fill(panel.bodySent ?? '');
    panel = await execute(block, 'createUser', 'POST', '/users', bodyBox);
    ok(`createUser: clicked "Execute" again, authorized`);
    if (panel.requestUrl) ok(`createUser: Swagger UI requested ${panel.requestUrl}`);
    if (panel.authorization !== `Bearer ${token}`) {
      fail(`createUser after authorizing sent Authorization ${JSON.stringify(panel.authorization)}, not the token`);
    }
    ok('createUser: sent Authorization: Bearer <the token>');
    expectStatus(panel, '201', 'createUser');
    ok('createUser: response panel shows status 201');
    let body = parseBody(panel, 'createUser');
    if (!body || typeof body !== 'object' || typeof body.id !== 'string' || body.id === '') {
      fail(`createUser: response body has no string "id": ${panel.bodyText}`);
    }
    if (body.id !== userId) fail(`createUser: response id ${body.id} is not the token's sub ${userId}`);
    ok(`createUser: response body is JSON with id ${body.id}, the token's sub`);
    const contentType = panel.headers.find((h) => /^content-type:/i.test(h));
    ok(`createUser: response headers shown: ${panel.headers.join('; ') || '(none)'}`);
    if (!contentType || !/application\/json/i.test(contentType)) {
      fail(`createUser: response content-type is not JSON: ${contentType ?? '(no content-type header shown)'}`);
    }

    // 5. Reload: the authorization survives (persistAuthorization), and GET /me uses it.
    const reloaded = await page.reload({ waitUntil: 'load' });
    if (!reloaded || reloaded.status() !== 200) {
      fail(`reloading ${DOCS_URL} answered ${reloaded?.status()}, expected 200`);
    }
    await page.locator('.swagger-ui .opblock').first().waitFor();
    if (!(await isLocked(authorizeButton))) {
      fail('after a reload the "Authorize" button shows unlocked: the authorization was not kept ' +
        '(persistAuthorization)');
    }
    await authorizeButton.click();
    await dialog.waitFor();
    const kept = bearerSection(dialog);
    if (!(await kept.getByText('Authorized', { exact: true }).count()) || (await kept.locator('input').count())) {
      const text = (await kept.innerText().catch(() => '')).trim();
      fail(`after a reload the bearerAuth section is not authorized: ${text}`);
    }
    await dialog.locator('button.btn-done').click();
    await dialog.waitFor({ state: 'detached' });
    ok('reload: the "Authorize" button shows locked and the dialog shows bearerAuth "Authorized"');

    block = blockOf('getCurrentUser', 'get', '/me');
    await tryItOut(block, 'getCurrentUser');
    panel = await execute(block, 'getCurrentUser', 'GET', '/me', null);
    if (panel.authorization !== `Bearer ${token}`) {
      fail(`getCurrentUser after the reload sent Authorization ${JSON.stringify(panel.authorization)}, not the token`);
    }
    expectStatus(panel, '200', 'getCurrentUser after the reload');
    body = parseBody(panel, 'getCurrentUser after the reload');
    if (body?.id !== userId) {
      fail(`getCurrentUser after the reload: id ${JSON.stringify(body?.id)}, expected ${userId}`);
    }
    ok(`getCurrentUser: "Execute" after the reload, token not pasted again -> 200 with id ${userId}`);

    // 6. No request left BASE_URL's origin (checked last, so Execute's requests count too).
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

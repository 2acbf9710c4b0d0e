// A single-page app in Chromium signs in at a real OpenID provider installed from npm (panva's
// oidc-provider, certified) by the authorization code flow with PKCE, and calls the Task API
// from its own origin with the JWT access token it got for the API's audience.
//
//   TASK_API_BIN=target/debug/task-api node tests/clients/oidc/pkce.mjs
//
// Three loopback origins: the provider (its sign-in and consent answered here for one account,
// as a user would click through them), the app (spa/, served here with its /config.json) and
// the Task API (AUTH_ISSUER alone, AUTH_AUDIENCE, AUTH_TOKEN_TYPES=at+jwt, CORS_ORIGINS = the
// app's origin). The app's session: GET /me 404, POST /users 201, GET /me 200, create a task,
// list it; the answers are also watched from outside the page, and any other status, any request
// to another origin or an access token that is not an ES256 at+jwt for the audience fails.
// Debian's Chromium (CHROMIUM, default /usr/bin/chromium) is driven by playwright-core with a
// fresh profile; nothing is intercepted, so CORS is the browser's own.
import { chromium } from "playwright-core";
import { randomUUID } from "node:crypto";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { audience, checker, listen, startProvider, startTaskApi } from "./provider.mjs";

const account = randomUUID(); // the provider's subject, a UUID: the Task API's user id as it is
const clientId = "task-api-spa";

// The provider's interactions, answered for `account`: sign-in, then consent to all asked for.
async function answerInteraction(op, req, res) {
  if (!req.url.startsWith("/interaction/")) return false;
  const { prompt, params, session, grantId } = await op.interactionDetails(req, res);
  if (prompt.name === "login") {
    await op.interactionFinished(req, res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
    return true;
  }
  const grant = grantId
    ? await op.Grant.find(grantId)
    : new op.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(" "));
  }
  await op.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  return true;
}

// The app's origin first: the provider registers it as the client's redirect URI.
let appConfig;
const spaFiles = { "/": ["index.html", "text/html"], "/app.js": ["app.js", "text/javascript"] };
const { listener: app, url: appOrigin } = await listen(async (req, res) => {
  const path = new URL(req.url, "http://app").pathname;
  if (path === "/config.json") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(appConfig));
  } else if (spaFiles[path]) {
    const [file, type] = spaFiles[path];
    res.writeHead(200, { "content-type": type }).end(await readFile(new URL(`spa/${file}`, import.meta.url)));
  } else {
    res.writeHead(404).end();
  }
});
const { issuer, listener: providerListener } = await startProvider({
  clients: [
    {
      client_id: clientId,
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: [`${appOrigin}/`],
      id_token_signed_response_alg: "ES256",
    },
  ],
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  cookies: { keys: [randomUUID()] },
  findAccount: (_, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  clientBasedCORS: (_, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
  route: answerInteraction,
});
const { base, stop } = await startTaskApi(issuer, { CORS_ORIGINS: appOrigin });
appConfig = { issuer, client_id: clientId, audience, api: base };

const check = checker();
const userDataDir = await mkdtemp(join(tmpdir(), "task-api-pkce-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  timeout: 30_000,
});
const origins = new Set([appOrigin, issuer, new URL(base).origin]);
const elsewhere = [];
const apiAnswers = [];
let tokenAnswer;
context.on("request", (request) => {
  if (!origins.has(new URL(request.url()).origin)) elsewhere.push(request.url());
});
context.on("response", async (response) => {
  const url = new URL(response.url());
  const method = response.request().method();
  if (url.origin === new URL(base).origin && method !== "OPTIONS") {
    apiAnswers.push(`${method} ${url.pathname} ${response.status()}`);
  } else if (url.href === `${issuer}/token`) {
    tokenAnswer = response.json();
  }
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${appOrigin}/`);
  const outcome = page.locator("#outcome:not(:empty)");
  await outcome.waitFor({ timeout: 30_000 });
  for (const line of (await page.locator("#log").innerText()).trim().split("\n")) console.log(`    app: ${line}`);
  const outcomeText = await outcome.innerText();
  check(outcomeText === "PASS", `the app signed in by code + PKCE and ran its session: ${outcomeText}`);

  const access = (await tokenAnswer)?.access_token ?? "";
  const [header, claims] = access.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url")));
  check(header.typ === "at+jwt" && header.alg === "ES256", "the provider's access token is an ES256 at+jwt");
  check(claims.aud === audience && claims.sub === account, `its aud is ${audience} and its sub the account signed in`);
  const expected = [
    "GET /me 404",
    "POST /users 201",
    "GET /me 200",
    `POST /users/${account}/tasks 201`,
    `GET /users/${account}/tasks 200`,
  ];
  const same = JSON.stringify(apiAnswers) === JSON.stringify(expected);
  check(
    same,
    `the Task API answered the app's origin: ${apiAnswers.join(", ")}${same ? "" : ` (expected ${expected.join(", ")})`}`,
  );
  check(
    elsewhere.length === 0,
    `no request left the three loopback origins${elsewhere.length ? `: ${elsewhere.join(" ")}` : ""}`,
  );
  console.log(`oidc-provider, code + PKCE in Chromium: ${check.passed} checks passed`);
} finally {
  await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true });
  stop();
  providerListener.close();
  app.close();
}

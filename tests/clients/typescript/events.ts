// A live view in a real browser: a page served here from APP_ORIGIN (another origin than the
// API's) opens the user's event stream with a browser's own `EventSource` and a ticket from
// createEventTicket (asked for through the generated client), and a task created through the
// generated client reaches the page as a `changed` event. The browser is Debian's Chromium
// (CHROMIUM, default /usr/bin/chromium) driven by playwright-core with a fresh profile; no request
// is intercepted, so the CORS answers are the server's and the browser enforces them.
//
//   BASE_URL=http://127.0.0.1:8000 AUTH_JWT_SECRET=... AUTH_ISSUER=... \
//     APP_ORIGIN=http://127.0.0.1:18406 node dist/events.js
//
// The server must list APP_ORIGIN in its CORS_ORIGINS; the page is served on APP_ORIGIN's port.
// The first failed check throws and the process exits non-zero.

import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import createClient from "openapi-fetch";
import { chromium } from "playwright-core";
import type { components, paths } from "./generated/schema.js";
import { mintToken } from "./token.js";

type ChangeEvent = components["schemas"]["ChangeEvent"];

const baseUrl = process.env.BASE_URL;
const appOrigin = process.env.APP_ORIGIN;
if (!baseUrl || !appOrigin) {
  throw new Error("set BASE_URL (the server) and APP_ORIGIN (an origin in the server's CORS_ORIGINS)");
}
const apiOrigin = new URL(baseUrl).origin;
const appUrl = new URL(appOrigin);
if (appUrl.origin !== appOrigin || appOrigin === apiOrigin) {
  throw new Error(`APP_ORIGIN ${appOrigin} must be an origin (scheme://host:port) other than the API's`);
}
// The page must learn of a change within a second; the rest is slack for a loaded machine.
const PATIENCE_MS = 10_000;

let checks = 0;
function check(condition: boolean, what: string): void {
  checks += 1;
  if (!condition) throw new Error(`assertion failed: ${what}`);
}

// What the page heard: each `changed` event's id, data and origin, and each error.
interface Heard {
  events: { id: string; data: string; origin: string }[];
  errors: number;
}

async function main(): Promise<void> {
  const user = randomUUID();
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${mintToken(user)}` } });
  const created = await api.POST("/users");
  check(created.response.status === 201 && created.data?.id === user, `createUser: ${created.response.status}`);
  const ticketAnswer = await api.POST("/users/{user_id}/events/tickets", { params: { path: { user_id: user } } });
  check(ticketAnswer.response.status === 201, `createEventTicket: status ${ticketAnswer.response.status}`);
  const ticket = ticketAnswer.data?.ticket ?? "";
  check(ticket.length > 0, "createEventTicket: a ticket");
  const expiresIn = Date.parse(ticketAnswer.data?.expires_at ?? "") - Date.now();
  check(expiresIn > 50_000 && expiresIn <= 60_000, `createEventTicket: expires in 60 s (${expiresIn} ms)`);
  const streamUrl = `${baseUrl}/users/${user}/events?ticket=${encodeURIComponent(ticket)}`;

  // The app's origin: one empty page, so that the EventSource is the page's, from that origin.
  const app = createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>live view</title>");
  });
  await new Promise<void>((resolve, reject) => {
    app.once("error", reject);
    app.listen(Number(appUrl.port || 80), appUrl.hostname, resolve);
  });
  const userDataDir = await mkdtemp(join(tmpdir(), "task-api-events-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    timeout: 30_000,
  });
  try {
    // The stream's answer as the browser got it, watched from outside the page.
    let streamHeaders: Promise<Record<string, string>> | undefined;
    context.on("response", (response) => {
      if (response.url().startsWith(`${baseUrl}/users/${user}/events?`)) streamHeaders = response.allHeaders();
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${appOrigin}/`);
    check(new URL(page.url()).origin === appOrigin, `the page is on ${appOrigin}`);

    // The page opens the stream and keeps what it hears; the first event comes at once.
    await page.evaluate(
      ({ url, patience }) =>
        new Promise<void>((resolve, reject) => {
          const heard: Heard = { events: [], errors: 0 };
          (window as unknown as { heard: Heard }).heard = heard;
          const source = new EventSource(url);
          source.addEventListener("changed", (event) => {
            const { lastEventId, data, origin } = event as MessageEvent<string>;
            heard.events.push({ id: lastEventId, data, origin });
            resolve();
          });
          source.onerror = () => {
            heard.errors += 1;
            reject(new Error(`the EventSource failed (readyState ${source.readyState})`));
          };
          setTimeout(() => reject(new Error(`no first event within ${patience} ms`)), patience);
        }),
      { url: streamUrl, patience: PATIENCE_MS },
    );
    const heard = () => page.evaluate(() => (window as unknown as { heard: Heard }).heard);
    const [first] = (await heard()).events;
    check(first !== undefined, "the first event");
    const opened = JSON.parse(first?.data ?? "") as ChangeEvent;
    check(first?.id === String(opened.version), `the first event's id ${first?.id} is its version`);
    check(first?.origin === apiOrigin, `the event comes from ${apiOrigin} (${first?.origin})`);
    const headers = await streamHeaders;
    check(headers?.["access-control-allow-origin"] === appOrigin, `the stream is shared with ${appOrigin} by CORS`);
    check((headers?.["content-type"] ?? "").startsWith("text/event-stream"), "the stream is text/event-stream");

    // A change made elsewhere (here, through the generated client) reaches the page.
    const sent = Date.now();
    const task = await api.POST("/users/{user_id}/tasks", {
      params: { path: { user_id: user } },
      body: { title: "Heard in the browser" },
    });
    check(task.response.status === 201, `createTask: status ${task.response.status}`);
    await page.waitForFunction(
      () => (window as unknown as { heard: Heard }).heard.events.length >= 2,
      undefined,
      { timeout: PATIENCE_MS },
    );
    const tookMs = Date.now() - sent;
    const after = await heard();
    const second = after.events[1];
    const changed = JSON.parse(second?.data ?? "") as ChangeEvent;
    check(changed.version > opened.version, `the change's version ${changed.version} follows ${opened.version}`);
    check(second?.id === String(changed.version), `its id ${second?.id} is its version`);
    check(after.errors === 0, "the EventSource had no error");
    check(tookMs < 1_000, `the page heard of the change within a second (${tookMs} ms)`);
    console.log(
      `ok  streamEvents   EventSource in Chromium on ${appOrigin} with a createEventTicket ticket: first ` +
        `event version ${opened.version}, createTask heard as version ${changed.version} after ${tookMs} ms`,
    );
    console.log(`typescript live view: 1 change heard through EventSource, ${checks} checks passed`);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
    app.close();
  }
}

main().catch((err: unknown) => {
  console.error(`typescript live view FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

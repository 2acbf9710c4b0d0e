// What both OpenID provider checks share: oidc-provider on a loopback listener, signing RFC 9068
// JWT access tokens (ES256, typ at+jwt) for the API's audience by resource indicators, and the
// Task API server started against it with AUTH_ISSUER alone (discovery).
import Provider from "oidc-provider";
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { createInterface } from "node:readline";

export const audience = "urn:task-api";

// A loopback HTTP listener on a free port, and its URL.
export async function listen(handler) {
  const listener = createServer(handler);
  listener.listen(0, "127.0.0.1");
  await once(listener, "listening");
  return { listener, url: `http://127.0.0.1:${listener.address().port}` };
}

// The provider, with the given clients and features besides resource indicators; `route` may
// answer a request itself (returning true) before the provider sees it.
export async function startProvider({ clients, features = {}, route = () => false, ...configuration }) {
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  let op;
  // The issuer is the listener's URL, so the listener comes first and the provider serves on it.
  const { listener, url: issuer } = await listen(async (req, res) => {
    if (!(await route(op, req, res))) op.callback()(req, res);
  });
  op = new Provider(issuer, {
    ...configuration,
    clients,
    jwks: { keys: [{ ...key, kid: "ec-1", alg: "ES256", use: "sig" }] },
    features: {
      ...features,
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        getResourceServerInfo: (_, resource) => ({
          audience: resource,
          scope: "tasks",
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "ES256" } },
        }),
      },
    },
  });
  return { op, issuer, listener };
}

// The Task API server (TASK_API_BIN) on a free port with an in-memory database, AUTH_ISSUER alone
// (discovery), AUTH_AUDIENCE and AUTH_TOKEN_TYPES=at+jwt, plus `settings`; its base URL once it
// listens, and a way to stop it.
export async function startTaskApi(issuer, settings = {}) {
  const server = spawn(process.env.TASK_API_BIN ?? "target/debug/task-api", [], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: "sqlite::memory:",
      PORT: "0",
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: audience,
      AUTH_TOKEN_TYPES: "at+jwt",
      LOG: "info",
      LOG_FORMAT: "json",
      ...settings,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let base;
  for await (const line of createInterface({ input: server.stderr })) {
    base = /listening on (http:\/\/\S+)/.exec(line)?.[1];
    if (base) break;
  }
  if (!base) throw new Error("the server did not start");
  server.stderr.resume(); // its later lines are not read, and must not fill the pipe
  return { base, stop: () => server.kill() };
}

// A numbered check: throws with `what` when `condition` is false, prints it otherwise.
export function checker() {
  const checker = (condition, what) => {
    if (!condition) throw new Error(`FAILED: ${what}`);
    checker.passed += 1;
    console.log(`ok  ${what}`);
  };
  checker.passed = 0;
  return checker;
}

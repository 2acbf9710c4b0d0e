// The tokens the client tests send: HS256 JWTs minted with node:crypto alone from the server's
// secret (AUTH_JWT_SECRET), with AUTH_ISSUER and AUTH_AUDIENCE as the iss and aud claims when
// they are set.

import { createHmac } from "node:crypto";

const secret = process.env.AUTH_JWT_SECRET;
if (!secret) {
  throw new Error("AUTH_JWT_SECRET is not set: it must be the server's HS256 secret (authentication on)");
}
const issuer = process.env.AUTH_ISSUER || undefined;
const audience = process.env.AUTH_AUDIENCE || undefined;

// An HS256 JWT for `sub`, made with node:crypto alone: header.claims.signature, each base64url.
export function mintToken(sub: string, options: { key?: string; lifetime?: number } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { sub, iat: now, exp: now + (options.lifetime ?? 600) };
  if (issuer !== undefined) claims.iss = issuer;
  if (audience !== undefined) claims.aud = audience;
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signed = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`;
  const signature = createHmac("sha256", options.key ?? (secret as string)).update(signed).digest("base64url");
  return `${signed}.${signature}`;
}

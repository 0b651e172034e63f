// SPIFFE IDs as the SPIFFE spec allows them: what a client certificate, a route rule and an OIDC
// identity mapping may name. Pure; shared by the config readers and the coordinator.

// A lower-case trust domain, path segments of letters, digits, '.', '-', '_' and no "." or ".." segment.
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function isSpiffeId(s: string): boolean {
  return SPIFFE_ID.test(s) && !/\/\.\.?(\/|$)/.test(s);
}

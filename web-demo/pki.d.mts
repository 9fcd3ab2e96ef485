// Types for pki.mjs (the demo's and the tests' PKI maker).
export interface PkiCert { cert: string; key: string; certPem: string; keyPem: string }
export interface Pki { dir: string; caPem: string; chainPem: string; certs: Record<string, PkiCert> }
export function makeDemoPki(options?: { intermediate?: boolean; host?: string; extraLeaves?: string[] }): Pki;

export declare const KEY_ARGS: Record<"ec-p256" | "ec-p384" | "ec-p521" | "rsa-2048" | "ed25519", string[]>;
export declare function selfSignedPem(host: string, type: keyof typeof KEY_ARGS): { certPem: string; keyPem: string };

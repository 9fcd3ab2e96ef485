// Constant-time symmetric crypto (issue 11, item 1): AES (all key sizes,
// single blocks and the bitsliced CTR), GHASH/GCM, ChaCha20, Poly1305 and
// the two AEADs of this project's wasm OpenSSL (wasm/crypto/ through
// openssl-src/patches/0003), checked
//   - against the standards' known answers: FIPS-197 appendix C, SP 800-38A,
//     the GCM specification's test cases 1-18 (SP 800-38D; 96-, 64- and
//     480-bit IVs, 128/192/256-bit keys), RFC 8439 (ChaCha20, Poly1305,
//     the AEAD);
//   - differentially, against Node's native OpenSSL on random keys, IVs,
//     AAD and lengths 0..64 KiB at unaligned offsets, fed whole or in
//     random pieces, in both directions, with tampered inputs rejected;
//   - primitive by primitive against OpenSSL's own C (the T-table AES and
//     C ChaCha20 that patches/0003 keeps under other names), including
//     32-bit counter wrap-around;
//   - and through TLS: the module's engine against Node's tls with each
//     AES-GCM, ChaCha20-Poly1305 and AES-CBC suite.
// The primitives are reached through test/crypto/harness.c, linked against
// the same libraries as the module; the TLS tests use the module itself.
import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  TlsSocket,
} from "../../bindings/src/index.js";
import { connectTcp } from "../../bindings/src/node.js";
import { defaultWasmURL } from "../../bindings/src/engine/load.js";
import { loadHarness, type Harness } from "../helpers/crypto-harness.js";
import { identity, SERVER_NAME } from "../helpers/harness.js";
import { readAll } from "../helpers/streams.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const range = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

/** A seeded generator (xorshift32), so a failing run can be repeated: SYMMETRIC_SEED=n. */
const SEED = Number(process.env.SYMMETRIC_SEED ?? (Date.now() % 0x7fffffff)) >>> 0 || 1;
let state = SEED;
function rand32(): number {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state;
}
const randInt = (n: number) => rand32() % n;
const randBytes = (n: number) => Uint8Array.from({ length: n }, () => rand32() & 0xff);
const pick = <T>(a: readonly T[]): T => a[randInt(a.length)];
/** Lengths around block and chunk boundaries, or anything up to 64 KiB. */
function randLength(): number {
  const edges = [0, 1, 15, 16, 17, 31, 32, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 3072, 3088, 16383, 16384, 16385, 65535, 65536];
  return randInt(3) === 0 ? pick(edges) : randInt(4) === 0 ? randInt(65537) : randInt(2048);
}

let h: Harness;
beforeAll(async () => {
  h = await loadHarness();
}, 300_000);

describe("known answers", () => {
  it("AES-128/192/256 single blocks: FIPS-197 appendix C, encrypt and decrypt", () => {
    const pt = hex("00112233445566778899aabbccddeeff");
    const cases: [number, string][] = [
      [16, "69c4e0d86a7b0430d8cdb78070b4c55a"],
      [24, "dda97ca4864cdfe06eaf70a0ec0d7191"],
      [32, "8ea2b7ca516745bfeafc49904b496089"],
    ];
    for (const [n, ct] of cases) {
      expect(toHex(h.aes(false, true, range(n), pt))).toBe(ct);
      expect(toHex(h.aes(false, false, range(n), hex(ct)))).toBe(toHex(pt));
      const ecb = h.cipher(`AES-${n * 8}-ECB`, true, { key: range(n), input: pt, padding: false });
      expect(ecb !== "bad-tag" && toHex(ecb.output)).toBe(ct);
    }
  });

  it("AES-128 ECB, CBC and CTR: SP 800-38A F.1.1, F.2.1, F.5.1", () => {
    const key = hex("2b7e151628aed2a6abf7158809cf4f3c");
    const pt = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                    30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);
    const run = (name: string, iv?: Uint8Array) => {
      const r = h.cipher(name, true, { key, iv, input: pt, padding: false });
      return r === "bad-tag" ? "" : toHex(r.output);
    };
    expect(run("AES-128-ECB")).toBe("3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
      + "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4");
    expect(run("AES-128-CBC", range(16))).toBe("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
      + "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7");
    expect(run("AES-128-CTR", hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))).toBe("874d6191b620e3261bef6864990db6ce"
      + "9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee");
  });

  it("AES-GCM: the GCM specification's test cases 1-18 (SP 800-38D), sealed and opened", () => {
    const k = "feffe9928665731c6d6a8f9467308308";
    const p = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const a = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const iv480 = "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
      + "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b";
    const keys: Record<number, [string, string]> = {
      128: ["00".repeat(16), k], 192: ["00".repeat(24), k + k.slice(0, 16)], 256: ["00".repeat(32), k + k],
    };
    // [ciphertext, tag] of test cases 1-6 for each key size: zero key; zero key, one zero block;
    // 4 blocks; 60 bytes and AAD; with a 64-bit IV; with a 480-bit IV
    const expected: [string, string][] = [
      ["", "58e2fccefa7e3061367f1d57a4e7455a"],
      ["0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"],
      ["42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"],
      ["42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091", "5bc94fbc3221a5db94fae95ae7121a47"],
      ["61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598", "3612d2e79e3b0785561be14aaca2fccb"],
      ["8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5", "619cc5aefffe0bfa462af43c1699d050"],
      ["", "cd33b28ac773f74ba00ed1f312572435"],
      ["98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb"],
      ["3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256", "9924a7c8587336bfb118024db8674a14"],
      ["3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710", "2519498e80f1478f37ba55bd6d27618c"],
      ["0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7", "65dcc57fcf623a24094fcca40d3533f8"],
      ["d27e88681ce3243c4830165a8fdcf9ff1de9a1d8e6b447ef6ef7b79828666e4581e79012af34ddd9e2f037589b292db3e67c036745fa22e7e9b7373b", "dcf566ff291c25bbb8568fc3d376a6d9"],
      ["", "530f8afbc74536b9a963b4f1c4cb738b"],
      ["cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"],
      ["522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad", "b094dac5d93471bdec1a502270e3cc6c"],
      ["522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b"],
      ["c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f", "3a337dbf46a792c45e454913fe2ea8f2"],
      ["5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf40fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f", "a44a8266ee1c8eb0c8b5d4cf5ae9f19a"],
    ];
    let tc = 0;
    for (const bits of [128, 192, 256]) {
      const [kz, kf] = keys[bits];
      const cases: [string, string, string, string][] = [
        [kz, "", "00".repeat(12), ""], [kz, "00".repeat(16), "00".repeat(12), ""], [kf, p, "cafebabefacedbaddecaf888", ""],
        [kf, p.slice(0, 120), "cafebabefacedbaddecaf888", a], [kf, p.slice(0, 120), "cafebabefacedbad", a], [kf, p.slice(0, 120), iv480, a],
      ];
      for (const [key, pt, iv, aad] of cases) {
        const [ct, tag] = expected[tc++];
        const name = `AES-${bits}-GCM`;
        const sealed = h.cipher(name, true, { key: hex(key), iv: hex(iv), aad: hex(aad), input: hex(pt), tagLength: 16 });
        expect(sealed !== "bad-tag" && [toHex(sealed.output), toHex(sealed.tag)], `test case ${tc}`).toEqual([ct, tag]);
        const opened = h.cipher(name, false, { key: hex(key), iv: hex(iv), aad: hex(aad), input: hex(ct), tag: hex(tag) });
        expect(opened !== "bad-tag" && toHex(opened.output), `test case ${tc}`).toBe(pt);
      }
    }
  });

  it("ChaCha20: RFC 8439 2.3.2 (block function) and 2.4.2 (encryption)", () => {
    const key = range(32);
    const block = h.chacha20(false, key, hex("01000000000000090000004a00000000"), new Uint8Array(64));
    expect(toHex(block)).toBe("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
      + "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e");
    const sunscreen = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const ct = "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab"
      + "8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d";
    expect(toHex(h.chacha20(false, key, hex("01000000000000000000004a00000000"), sunscreen))).toBe(ct);
    const evp = h.cipher("ChaCha20", true, { key, iv: hex("01000000000000000000004a00000000"), input: sunscreen });
    expect(evp !== "bad-tag" && toHex(evp.output)).toBe(ct);
  });

  it("Poly1305: RFC 8439 2.5.2; the AEAD: RFC 8439 2.8.2", () => {
    const tag = h.mac("POLY1305", hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"),
      new TextEncoder().encode("Cryptographic Forum Research Group"));
    expect(toHex(tag)).toBe("a8061dc1305136c6c22b8baf0c0127a9");
    const sunscreen = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const args = { key: range(32, 0x80), iv: hex("070000004041424344454647"), aad: hex("50515253c0c1c2c3c4c5c6c7") };
    const sealed = h.cipher("ChaCha20-Poly1305", true, { ...args, input: sunscreen, tagLength: 16 });
    const ct = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b29"
      + "05d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116";
    expect(sealed !== "bad-tag" && [toHex(sealed.output), toHex(sealed.tag)]).toEqual([ct, "1ae10b594f09e26a7e902ecbd0600691"]);
    const opened = h.cipher("ChaCha20-Poly1305", false, { ...args, input: hex(ct), tag: hex("1ae10b594f09e26a7e902ecbd0600691") });
    expect(opened !== "bad-tag" && toHex(opened.output)).toBe(toHex(sunscreen));
  });
});

/** Node's native OpenSSL, the other side of every differential check. */
function nodeSeal(name: string, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, tagLength: number) {
  const c = crypto.createCipheriv(name, key, iv, { authTagLength: tagLength } as crypto.CipherGCMOptions) as crypto.CipherGCM;
  if (aad.length) c.setAAD(aad);
  const output = Buffer.concat([c.update(input), c.final()]);
  return { output, tag: tagLength ? c.getAuthTag() : Buffer.alloc(0) };
}
function nodeOpen(name: string, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, tag: Uint8Array): Buffer | "bad-tag" {
  const d = crypto.createDecipheriv(name, key, iv, { authTagLength: tag.length } as crypto.CipherGCMOptions) as crypto.DecipherGCM;
  if (aad.length) d.setAAD(aad);
  d.setAuthTag(tag);
  try {
    return Buffer.concat([d.update(input), d.final()]);
  } catch {
    return "bad-tag";
  }
}

describe(`differential, against Node's native OpenSSL ${process.versions.openssl} (seed ${SEED})`, () => {
  const aeads: [string, number, () => Uint8Array, () => number][] = [
    // [name, key bytes, IV generator, tag length generator]
    ["aes-128-gcm", 16, () => (randInt(4) ? randBytes(12) : randBytes(1 + randInt(64))), () => pick([16, 16, 12, 8, 4])],
    ["aes-192-gcm", 24, () => (randInt(4) ? randBytes(12) : randBytes(1 + randInt(64))), () => 16],
    ["aes-256-gcm", 32, () => (randInt(4) ? randBytes(12) : randBytes(1 + randInt(64))), () => pick([16, 12])],
    ["chacha20-poly1305", 32, () => randBytes(12), () => 16],
  ];
  for (const [name, keyLength, makeIv, makeTagLength] of aeads) {
    it(`${name}: random keys, IVs, AAD and lengths 0..64 KiB, unaligned, whole or in pieces; both ways; tampering rejected`, () => {
      for (let i = 0; i < 48; i++) {
        const key = randBytes(keyLength), iv = makeIv(), tagLength = makeTagLength();
        const aad = randBytes(pick([0, 0, 13, 16, 17, randInt(100), randInt(5000)]));
        const input = randBytes(randLength());
        const args = { key, iv, aad, offset: randInt(16), chunk: pick([0, 0, 1 + randInt(40), 1 + randInt(5000)]) };
        const what = `${name} #${i}: ${input.length} bytes, ${aad.length} AAD, ${iv.length}-byte IV, chunk ${args.chunk}, offset ${args.offset}`;

        const ours = h.cipher(name, true, { ...args, input, tagLength });
        const theirs = nodeSeal(name, key, iv, aad, input, tagLength);
        expect(ours !== "bad-tag" && toHex(ours.output) === toHex(theirs.output) && toHex(ours.tag) === toHex(theirs.tag), what).toBe(true);

        const opened = h.cipher(name, false, { ...args, input: theirs.output, tag: theirs.tag });
        expect(opened !== "bad-tag" && toHex(opened.output) === toHex(input), what).toBe(true);
        if (ours === "bad-tag") return;
        expect(toHex(nodeOpen(name, key, iv, aad, ours.output, ours.tag) as Uint8Array), what).toBe(toHex(input));

        // one flipped bit anywhere (ciphertext, AAD or tag) and the tag does not verify, on both sides
        const ct = Uint8Array.from(ours.output), ad = Uint8Array.from(aad), tag = Uint8Array.from(ours.tag);
        const target = pick([ct, ad, tag].filter((b) => b.length > 0));
        target[randInt(target.length)] ^= 1 << randInt(8);
        expect(h.cipher(name, false, { ...args, aad: ad, input: ct, tag }), what).toBe("bad-tag");
        expect(nodeOpen(name, key, iv, ad, ct, tag), what).toBe("bad-tag");
      }
    });
  }

  const plain: [string, number, number, boolean][] = [
    // [name, key bytes, IV bytes, whole blocks only]
    ["aes-128-ctr", 16, 16, false], ["aes-192-ctr", 24, 16, false], ["aes-256-ctr", 32, 16, false],
    ["aes-128-cbc", 16, 16, false], ["aes-192-cbc", 24, 16, false], ["aes-256-cbc", 32, 16, false],
    ["aes-128-ecb", 16, 0, false], ["aes-256-ecb", 32, 0, false],
    ["aes-128-cfb", 16, 16, false], ["aes-256-ofb", 32, 16, false],
    ["chacha20", 32, 16, false],
  ];
  for (const [name, keyLength, ivLength] of plain) {
    it(`${name}: random keys, IVs and lengths, unaligned, whole or in pieces; both ways`, () => {
      for (let i = 0; i < 16; i++) {
        const key = randBytes(keyLength), iv = randBytes(ivLength), input = randBytes(randLength());
        // the CTR counters near 2^32 and 2^128 (OpenSSL carries into the whole block; so must we)
        if (name.endsWith("ctr") && randInt(2)) iv.fill(0xff, 16 - 1 - randInt(8));
        if (name === "chacha20" && randInt(2)) iv.set([0xff - randInt(8), 0xff, 0xff, 0xff], 0);
        const args = { key, iv, offset: randInt(16), chunk: pick([0, 0, 1 + randInt(40), 1 + randInt(5000)]) };
        const what = `${name} #${i}: ${input.length} bytes, chunk ${args.chunk}, offset ${args.offset}, IV ${toHex(iv)}`;
        const theirs = nodeSeal(name, key, iv, new Uint8Array(0), input, 0).output;
        const ours = h.cipher(name, true, { ...args, input });
        expect(ours !== "bad-tag" && toHex(ours.output) === toHex(theirs), what).toBe(true);
        const back = h.cipher(name, false, { ...args, input: theirs });
        expect(back !== "bad-tag" && toHex(back.output) === toHex(input), what).toBe(true);
      }
    });
  }
});

describe("primitives against OpenSSL's own C code (kept by patches/0003 as the reference)", () => {
  it("AES_encrypt/AES_decrypt equal the T-table code: 128/192/256-bit keys, random blocks, unaligned", () => {
    for (let i = 0; i < 300; i++) {
      const key = randBytes(pick([16, 24, 32])), input = randBytes(16 * (1 + randInt(8))), offset = randInt(16);
      for (const enc of [true, false]) {
        expect(toHex(h.aes(false, enc, key, input, offset)), `key ${toHex(key)}`).toBe(toHex(h.aes(true, enc, key, input)));
      }
    }
  });

  it("AES_ctr32_encrypt (bitsliced, 8 blocks at a time) equals CTR from the T-table code, the 32-bit counter wrapping", () => {
    for (let i = 0; i < 200; i++) {
      const key = randBytes(pick([16, 24, 32])), ivec = randBytes(16), blocks = randInt(i < 20 ? 80 : 20);
      if (randInt(2)) ivec.fill(0xff, 12, 16 - randInt(2)); // the low 32 bits near 2^32: they wrap without a carry
      const input = randBytes(16 * blocks);
      const counters = new Uint8Array(16 * blocks);
      let ctr = Buffer.from(ivec).readUInt32BE(12);
      for (let b = 0; b < blocks; b++, ctr = (ctr + 1) >>> 0) {
        counters.set(ivec.subarray(0, 12), 16 * b);
        Buffer.from(counters.buffer).writeUInt32BE(ctr, 16 * b + 12);
      }
      const ks = h.aes(true, true, key, counters);
      const expected = input.map((x, j) => x ^ ks[j]);
      expect(toHex(h.aesCtr32(key, ivec, input, randInt(16))), `${blocks} blocks, ivec ${toHex(ivec)}`).toBe(toHex(expected));
    }
  });

  it("ChaCha20_ctr32 (4 blocks at a time in SIMD128) equals OpenSSL's C one, the 32-bit block counter wrapping", () => {
    for (let i = 0; i < 200; i++) {
      const key = randBytes(32), counter = randBytes(16), input = randBytes(randInt(i < 20 ? 3000 : 600));
      if (randInt(2)) counter.set([0xff - randInt(6), 0xff, 0xff, 0xff], 0);
      expect(toHex(h.chacha20(false, key, counter, input, randInt(16))), `counter ${toHex(counter)}`)
        .toBe(toHex(h.chacha20(true, key, counter, input)));
    }
  });
});

describe("the module", () => {
  it("links none of OpenSSL's T-table AES: its Te0 and Td0 tables are not in openssl.wasm", () => {
    const wasm = readFileSync(defaultWasmURL());
    // Te0[0..2] and Td0[0..1] of crypto/aes/aes_core.c, as little-endian 32-bit words
    expect(wasm.indexOf(hex("a56363c6847c7cf8997777ee"))).toBe(-1);
    expect(wasm.indexOf(hex("50a7f4515365417e"))).toBe(-1);
    // while the S-box (of aes-simd.c's single-block AES) is there: the search itself works
    expect(wasm.indexOf(hex("637c777bf26b6fc53001672bfed7ab76"))).toBeGreaterThan(0);
  });
});

describe("TLS through the module, against Node's tls", () => {
  let server: tls.Server;
  let port = 0;
  beforeAll(async () => {
    const id = identity();
    server = tls.createServer({ cert: id.certPem, key: id.keyPem, minVersion: "TLSv1.2", maxVersion: "TLSv1.3",
      ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA" },
    (socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const suites: [string, { ciphersuites?: string; ciphers?: string; maxVersion?: "TLSv1.2" }][] = [
    ["TLS_AES_128_GCM_SHA256", { ciphersuites: "TLS_AES_128_GCM_SHA256" }],
    ["TLS_AES_256_GCM_SHA384", { ciphersuites: "TLS_AES_256_GCM_SHA384" }],
    ["TLS_CHACHA20_POLY1305_SHA256", { ciphersuites: "TLS_CHACHA20_POLY1305_SHA256" }],
    ["ECDHE-ECDSA-AES128-GCM-SHA256", { ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", maxVersion: "TLSv1.2" }],
    ["ECDHE-ECDSA-CHACHA20-POLY1305", { ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305", maxVersion: "TLSv1.2" }],
    ["ECDHE-ECDSA-AES128-SHA256", { ciphers: "ECDHE-ECDSA-AES128-SHA256", maxVersion: "TLSv1.2" }],
    ["ECDHE-ECDSA-AES256-SHA", { ciphers: "ECDHE-ECDSA-AES256-SHA", maxVersion: "TLSv1.2" }],
  ];
  for (const [suite, options] of suites) {
    it(`${suite}: random amounts echoed intact`, async () => {
      const sock = await TlsSocket.connect(await connectTcp("127.0.0.1", port),
        { servername: SERVER_NAME, ca: identity().certPem, ...options });
      expect(sock.info.cipher).toBe(suite);
      const sent = Buffer.concat(Array.from({ length: 6 }, () => randBytes(randLength())));
      const writer = sock.writable.getWriter();
      const echoed = readAll(sock.readable);
      for (let at = 0; at < sent.length;) {
        const n = Math.min(sent.length - at, 1 + randInt(40000));
        await writer.write(sent.subarray(at, at + n));
        at += n;
      }
      await writer.close(); // close_notify; Node's echo ends after it
      expect((await echoed).equals(sent)).toBe(true);
      await sock.shutdown({ mode: "bidirectional" }).catch(() => undefined);
    });
  }
});

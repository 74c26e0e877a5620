import assert from "node:assert/strict";
import {
  encodeQr,
  gfExp,
  gfMultiply,
  qrAlignmentPositions,
  qrBlockLayout,
  type QrCode,
  qrDataCodewords,
  type QrEcc,
  qrFormatBits,
  qrMaskApplies,
  qrPenalty,
  qrRawCodewords,
  qrVersionBits,
  reedSolomon,
  renderQr,
} from "../lib/qr.ts";

const FIXTURES = `${import.meta.dirname}/fixtures/qrencode`;

interface FixtureCase {
  file: string;
  text: string;
  ecc: QrEcc;
  version: number;
}

/** Parses `qrencode -t ASCII -m 0` output: two characters per module, `##` dark. */
function parseAscii(text: string): boolean[][] {
  return text.split("\n").filter((l) => l.length > 0).map((line) => {
    const row: boolean[] = [];
    for (let i = 0; i < line.length; i += 2) row.push(line[i] === "#");
    return row;
  });
}

/** Reads both copies of the format information; returns the 15-bit words. */
function readFormat(m: boolean[][]): [number, number] {
  const size = m.length;
  const bit = (x: number, y: number) => (m[y]![x] ? 1 : 0);
  let a = 0, b = 0;
  for (let i = 0; i <= 5; i++) a |= bit(8, i) << i;
  a |= bit(8, 7) << 6;
  a |= bit(8, 8) << 7;
  a |= bit(7, 8) << 8;
  for (let i = 9; i < 15; i++) a |= bit(14 - i, 8) << i;
  for (let i = 0; i < 8; i++) b |= bit(size - 1 - i, 8) << i;
  for (let i = 8; i < 15; i++) b |= bit(8, size - 15 + i) << i;
  return [a, b];
}

/** ecc level and mask whose format word equals `word`, if any (BCH-valid words only). */
function decodeFormat(word: number): { ecc: QrEcc; mask: number } | undefined {
  for (const ecc of ["L", "M", "Q", "H"] as const) {
    for (let mask = 0; mask < 8; mask++) if (qrFormatBits(ecc, mask) === word) return { ecc, mask };
  }
  return undefined;
}

/** Function-module map built independently of the encoder. */
function functionModules(version: number): boolean[][] {
  const size = version * 4 + 17;
  const f = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  const mark = (x0: number, y0: number, w: number, h: number) => {
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) {
        if (x >= 0 && y >= 0 && x < size && y < size) f[y]![x] = true;
      }
    }
  };
  mark(0, 0, 9, 9); // finder + separator + format
  mark(size - 8, 0, 8, 9);
  mark(0, size - 8, 9, 8);
  const align = qrAlignmentPositions(version);
  for (const cx of align) {
    for (const cy of align) {
      if (!f[cy]![cx]) mark(cx - 2, cy - 2, 5, 5); // skips the three finder corners
    }
  }
  mark(6, 0, 1, size); // timing
  mark(0, 6, size, 1);
  if (version >= 7) {
    mark(size - 11, 0, 3, 6);
    mark(0, size - 11, 6, 3);
  }
  return f;
}

/** Decodes a byte-mode symbol: unmask, read the zig-zag, check RS syndromes, parse. */
function decodeSymbol(m: boolean[][]): { bytes: Uint8Array; ecc: QrEcc; mask: number } {
  const size = m.length;
  const version = (size - 17) / 4;
  const format = decodeFormat(readFormat(m)[0]);
  assert.ok(format, "format information is a valid BCH word");
  const func = functionModules(version);
  const bits: number[] = [];
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    const upward = ((right + 1) & 2) === 0;
    for (let v = 0; v < size; v++) {
      const y = upward ? size - 1 - v : v;
      for (const x of [right, right - 1]) {
        if (func[y]![x]) continue;
        bits.push((m[y]![x]! !== qrMaskApplies(format.mask, x, y)) ? 1 : 0);
      }
    }
  }
  const raw = qrRawCodewords(version);
  const codewords = new Uint8Array(raw);
  for (let i = 0; i < raw * 8; i++) codewords[i >>> 3]! |= bits[i]! << (7 - (i & 7));
  const { eccPerBlock, blocks } = qrBlockLayout(version, format.ecc);
  const shortBlocks = blocks - (raw % blocks);
  const shortLength = Math.floor(raw / blocks) - eccPerBlock;
  const lengths = Array.from({ length: blocks }, (_, i) => shortLength + (i < shortBlocks ? 0 : 1));
  const blockData = lengths.map(() => [] as number[]);
  let k = 0;
  for (let i = 0; i <= shortLength; i++) {
    for (let b = 0; b < blocks; b++) if (i < lengths[b]!) blockData[b]!.push(codewords[k++]!);
  }
  for (let i = 0; i < eccPerBlock; i++) {
    for (let b = 0; b < blocks; b++) blockData[b]!.push(codewords[k++]!);
  }
  for (const block of blockData) {
    for (let r = 0; r < eccPerBlock; r++) {
      let s = 0;
      for (const c of block) s = gfMultiply(s, gfExp(r)) ^ c;
      assert.equal(s, 0, `RS syndrome ${r} is zero`);
    }
  }
  const data = blockData.flatMap((block, b) => block.slice(0, lengths[b]));
  let pos = 0;
  const read = (n: number) => {
    let v = 0;
    for (let i = 0; i < n; i++, pos++) v = (v << 1) | ((data[pos >>> 3]! >>> (7 - (pos & 7))) & 1);
    return v;
  };
  assert.equal(read(4), 0b0100, "byte mode");
  const count = read(version <= 9 ? 8 : 16);
  const bytes = new Uint8Array(count);
  for (let i = 0; i < count; i++) bytes[i] = read(8);
  return { bytes, ecc: format.ecc, mask: format.mask };
}

function assertStructure(code: QrCode): void {
  const { modules: m, size, version } = code;
  assert.equal(size, version * 4 + 17);
  assert.equal(m.length, size);
  for (const row of m) assert.equal(row.length, size);
  for (const [ox, oy] of [[0, 0], [size - 7, 0], [0, size - 7]] as const) {
    for (let dy = 0; dy < 7; dy++) {
      for (let dx = 0; dx < 7; dx++) {
        const d = Math.max(Math.abs(dx - 3), Math.abs(dy - 3));
        assert.equal(m[oy + dy]![ox + dx], d !== 2, `finder at ${ox},${oy}`);
      }
    }
  }
  for (let i = 8; i < size - 8; i++) {
    assert.equal(m[6]![i], i % 2 === 0, "horizontal timing");
    assert.equal(m[i]![6], i % 2 === 0, "vertical timing");
  }
  assert.equal(m[size - 8]![8], true, "dark module");
  const [a, b] = readFormat(m);
  assert.equal(a, b, "both format copies agree");
  assert.deepEqual(decodeFormat(a), { ecc: code.ecc, mask: code.mask });
  if (version >= 7) {
    let v1 = 0, v2 = 0;
    for (let i = 0; i < 18; i++) {
      v1 |= (m[Math.floor(i / 3)]![size - 11 + (i % 3)] ? 1 : 0) << i;
      v2 |= (m[size - 11 + (i % 3)]![Math.floor(i / 3)] ? 1 : 0) << i;
    }
    assert.equal(v1, qrVersionBits(version));
    assert.equal(v2, qrVersionBits(version));
  }
}

/** Reads a half-block rendering back into modules (dark = true). */
function parseRendering(
  text: string,
  lightOnDark: boolean,
  quiet: number,
  size: number,
): boolean[][] {
  const lines = text.split("\n").slice(0, -1);
  const full = size + quiet * 2;
  const ink: boolean[][] = [];
  for (const line of lines) {
    const chars = [...line];
    assert.equal(chars.length, full);
    ink.push(chars.map((c) => c === "▀" || c === "█"));
    ink.push(chars.map((c) => c === "▄" || c === "█"));
  }
  const out: boolean[][] = [];
  for (let y = 0; y < full; y++) {
    if (y < quiet || y >= quiet + size) {
      for (const cell of ink[y]!) assert.equal(cell, lightOnDark, "quiet zone is light");
      continue;
    }
    const row = ink[y]!;
    for (let x = 0; x < quiet; x++) {
      assert.equal(row[x], lightOnDark);
      assert.equal(row[full - 1 - x], lightOnDark);
    }
    out.push(row.slice(quiet, quiet + size).map((cell) => lightOnDark ? !cell : cell));
  }
  return out;
}

Deno.test("`encodeQr()` matches qrencode's matrix for the same version, level and mask", async (t) => {
  const index = JSON.parse(await Deno.readTextFile(`${FIXTURES}/cases.json`)) as {
    cases: FixtureCase[];
  };
  assert.ok(index.cases.length >= 6);
  for (const c of index.cases) {
    await t.step(`${c.file} (v${c.version}-${c.ecc})`, async () => {
      const reference = parseAscii(await Deno.readTextFile(`${FIXTURES}/${c.file}`));
      const format = decodeFormat(readFormat(reference)[0]);
      assert.ok(format, "fixture carries valid format bits");
      assert.equal(format.ecc, c.ecc);
      const code = encodeQr(c.text, { ecc: c.ecc, mask: format.mask });
      assert.equal(code.version, c.version);
      assert.equal(code.size, reference.length);
      assert.deepEqual(code.modules, reference);
    });
  }
});

Deno.test("`encodeQr()` output has valid finder, timing, format and version patterns and decodes back", async (t) => {
  const inputs: [string, QrEcc][] = [
    ["https://build-box.tail1234.ts.net", "M"],
    ["https://login.tailscale.com/a/1a2b3c4d5e6f7", "L"],
    ["clé ✓ ünïcødé", "M"],
    ["x".repeat(150), "M"], // version 7+: version information
    ["y".repeat(300), "L"], // version 10+: 16-bit character count
    ["z".repeat(1000), "Q"],
    ["", "H"],
  ];
  for (const [text, ecc] of inputs) {
    await t.step(`${text.length} chars at ${ecc}`, () => {
      const code = encodeQr(text, { ecc });
      assert.equal(code.ecc, ecc);
      assertStructure(code);
      const decoded = decodeSymbol(code.modules);
      assert.equal(new TextDecoder().decode(decoded.bytes), text);
      assert.equal(decoded.mask, code.mask);
    });
  }
});

Deno.test("`encodeQr()` picks the smallest version that fits and the lowest-penalty mask", async (t) => {
  await t.step("capacity boundaries (byte mode, level M)", () => {
    for (const version of [1, 2, 5, 9, 10, 20, 40]) {
      const capacity = qrDataCodewords(version, "M") - (version <= 9 ? 2 : 3);
      assert.equal(
        encodeQr("a".repeat(capacity)).version,
        version,
        `v${version} holds ${capacity}`,
      );
      if (version < 40) assert.equal(encodeQr("a".repeat(capacity + 1)).version > version, true);
    }
  });
  await t.step("known capacities from the standard", () => {
    assert.equal(qrDataCodewords(1, "M"), 16);
    assert.equal(qrDataCodewords(1, "L"), 19);
    assert.equal(qrDataCodewords(10, "M"), 216);
    assert.equal(qrDataCodewords(40, "L"), 2956);
    assert.deepEqual(qrAlignmentPositions(7), [6, 22, 38]);
    assert.deepEqual(qrAlignmentPositions(32), [6, 34, 60, 86, 112, 138]);
  });
  await t.step("mask is the minimum penalty of the eight", () => {
    const text = "https://build-box.tail1234.ts.net:8443";
    const chosen = encodeQr(text);
    const penalties = Array.from(
      { length: 8 },
      (_, mask) => qrPenalty(encodeQr(text, { mask }).modules),
    );
    assert.equal(penalties[chosen.mask], Math.min(...penalties));
  });
  await t.step("too long or bad options throw RangeError", () => {
    assert.throws(() => encodeQr("a".repeat(300), { maxVersion: 10 }), RangeError);
    assert.throws(() => encodeQr("a", { mask: 8 }), RangeError);
    assert.throws(() => encodeQr("a", { minVersion: 0 }), RangeError);
  });
});

Deno.test("`reedSolomon()` produces the standard's example codewords", () => {
  // ISO/IEC 18004 Annex I: "01234567" at 1-M.
  const data = Uint8Array.from([
    16,
    32,
    12,
    86,
    97,
    128,
    236,
    17,
    236,
    17,
    236,
    17,
    236,
    17,
    236,
    17,
  ]);
  assert.deepEqual(
    [...reedSolomon(data, 10)],
    [165, 36, 212, 193, 237, 54, 199, 135, 44, 85],
  );
});

Deno.test("`qrFormatBits()` and `qrVersionBits()` match the standard's tables", () => {
  assert.equal(qrFormatBits("M", 0), 0b101010000010010);
  assert.equal(qrFormatBits("L", 4), 0b110011000101111);
  assert.equal(qrFormatBits("H", 1), 0b001001110111110);
  assert.equal(qrFormatBits("H", 7), 0b000100000111011);
  assert.equal(qrVersionBits(7), 0x07c94);
  assert.equal(qrVersionBits(40), 0x28c69);
});

Deno.test("`renderQr()` draws two rows per line with half blocks and a quiet zone", async (t) => {
  const code = encodeQr("https://build-box.tail1234.ts.net");
  for (const lightOnDark of [true, false]) {
    for (const quietZone of [1, 2, 4]) {
      await t.step(`lightOnDark=${lightOnDark} quietZone=${quietZone}`, () => {
        const text = renderQr(code, { lightOnDark, quietZone });
        assert.match(text, /^[▀▄█ \n]+$/);
        assert.equal(text.split("\n").length - 1, Math.ceil((code.size + quietZone * 2) / 2));
        assert.deepEqual(parseRendering(text, lightOnDark, quietZone, code.size), code.modules);
      });
    }
  }
  await t.step("defaults: light on dark, quiet zone 2", () => {
    assert.equal(renderQr(code), renderQr(code, { lightOnDark: true, quietZone: 2 }));
    assert.equal(renderQr(code).split("\n")[0], "█".repeat(code.size + 4));
  });
});

/**
 * QR codes for a terminal: a pure encoder (ISO/IEC 18004 model 2, byte mode,
 * versions 1–40, error correction L/M/Q/H, mask chosen by penalty score) that
 * returns a boolean matrix, and a renderer that draws the matrix as text with
 * Unicode half blocks, two module rows per line, with a quiet zone.
 *
 * ecto shows one for a login URL and one for "base URL + key" so a phone can
 * pick them up. No dependency: Reed–Solomon over GF(256), the BCH-coded format
 * and version information and the eight masks are all here.
 *
 * @example
 * ```ts
 * import { encodeQr, renderQr } from "./qr.ts";
 * const text = renderQr(encodeQr("https://login.tailscale.com/a/abc123"));
 * ```
 *
 * @module
 */

/** Error correction level: recovers about 7 % (L), 15 % (M), 25 % (Q), 30 % (H) of the symbol. */
export type QrEcc = "L" | "M" | "Q" | "H";

/** Options for {@link encodeQr}. */
export interface QrEncodeOptions {
  /** Error correction level (default `M`). */
  ecc?: QrEcc;
  /** Smallest version to use (default 1). */
  minVersion?: number;
  /** Largest version to use (default 40). */
  maxVersion?: number;
  /** Force a mask pattern 0–7 instead of choosing the one with the lowest penalty. */
  mask?: number;
}

/** An encoded symbol. `modules[y][x]` is `true` for a dark module. */
export interface QrCode {
  /** Version 1–40; the symbol is `17 + 4 * version` modules wide. */
  version: number;
  /** Error correction level used. */
  ecc: QrEcc;
  /** Mask pattern 0–7 applied. */
  mask: number;
  /** Width and height in modules. */
  size: number;
  /** Rows of modules, top to bottom; `true` is dark. */
  modules: boolean[][];
}

/** Options for {@link renderQr}. */
export interface QrRenderOptions {
  /** Light border in modules (default 2; the standard asks for 4, most phones need 1–2). */
  quietZone?: number;
  /**
   * Draw light modules as blocks, for a terminal with a dark background
   * (default `true`, like `qrencode -t UTF8`). With `false` dark modules are
   * drawn as blocks, for a light background.
   */
  lightOnDark?: boolean;
}

// Indexed by [ecc][version]; index 0 unused. (ISO/IEC 18004 table 9.)
const ECC_ORDER: Record<QrEcc, number> = { L: 0, M: 1, Q: 2, H: 3 };
const ECC_FORMAT_BITS: Record<QrEcc, number> = { L: 1, M: 0, Q: 3, H: 2 };
const ECC_CODEWORDS_PER_BLOCK: readonly (readonly number[])[] = [
  // deno-fmt-ignore
  [-1, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  // deno-fmt-ignore
  [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
  // deno-fmt-ignore
  [-1, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  // deno-fmt-ignore
  [-1, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
];
const ECC_BLOCKS: readonly (readonly number[])[] = [
  // deno-fmt-ignore
  [-1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  // deno-fmt-ignore
  [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
  // deno-fmt-ignore
  [-1, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
  // deno-fmt-ignore
  [-1, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
];

/** Error correction codewords per block and number of blocks for a version and level. */
export function qrBlockLayout(
  version: number,
  ecc: QrEcc,
): { eccPerBlock: number; blocks: number } {
  const i = ECC_ORDER[ecc];
  return { eccPerBlock: ECC_CODEWORDS_PER_BLOCK[i]![version]!, blocks: ECC_BLOCKS[i]![version]! };
}

/** Number of 8-bit codewords (data + error correction) a version holds. */
export function qrRawCodewords(version: number): number {
  let modules = (16 * version + 128) * version + 64;
  if (version >= 2) {
    const align = Math.floor(version / 7) + 2;
    modules -= (25 * align - 10) * align - 55;
    if (version >= 7) modules -= 36;
  }
  return Math.floor(modules / 8);
}

/** Number of data codewords a version and level holds. */
export function qrDataCodewords(version: number, ecc: QrEcc): number {
  const { eccPerBlock, blocks } = qrBlockLayout(version, ecc);
  return qrRawCodewords(version) - eccPerBlock * blocks;
}

/** Centre coordinates of the alignment patterns along one axis. */
export function qrAlignmentPositions(version: number): number[] {
  if (version === 1) return [];
  const count = Math.floor(version / 7) + 2;
  const step = Math.floor((version * 8 + count * 3 + 5) / (count * 4 - 4)) * 2;
  const positions = [6];
  for (let pos = version * 4 + 10; positions.length < count; pos -= step) {
    positions.splice(1, 0, pos);
  }
  return positions;
}

/** The 15 format bits (level + mask, BCH(15,5), XOR 0x5412). */
export function qrFormatBits(ecc: QrEcc, mask: number): number {
  const data = (ECC_FORMAT_BITS[ecc] << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  return ((data << 10) | rem) ^ 0x5412;
}

/** The 18 version bits (version, BCH(18,6)), used from version 7. */
export function qrVersionBits(version: number): number {
  let rem = version;
  for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
  return (version << 12) | rem;
}

// GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
const GF_EXP = new Uint8Array(512);
const GF_LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x;
    GF_LOG[x] = i;
    x = (x << 1) ^ (x & 0x80 ? 0x11d : 0);
  }
  for (let i = 255; i < 512; i++) GF_EXP[i] = GF_EXP[i - 255]!;
}

/** Product of two GF(256) elements. */
export function gfMultiply(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : GF_EXP[GF_LOG[a]! + GF_LOG[b]!]!;
}

/** `α^i` in GF(256). */
export function gfExp(i: number): number {
  return GF_EXP[((i % 255) + 255) % 255]!;
}

/** Coefficients (highest first, leading 1 dropped) of ∏ (x − α^i), i < degree. */
function rsGenerator(degree: number): Uint8Array {
  const result = new Uint8Array(degree);
  result[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      result[j] = gfMultiply(result[j]!, root) ^ (j + 1 < degree ? result[j + 1]! : 0);
    }
    root = gfMultiply(root, 2);
  }
  return result;
}

/** The Reed–Solomon error correction codewords for `data`. */
export function reedSolomon(data: Uint8Array, eccLength: number): Uint8Array {
  const generator = rsGenerator(eccLength);
  const rem = new Uint8Array(eccLength);
  for (const byte of data) {
    const factor = byte ^ rem[0]!;
    rem.copyWithin(0, 1);
    rem[eccLength - 1] = 0;
    for (let i = 0; i < eccLength; i++) rem[i]! ^= gfMultiply(generator[i]!, factor);
  }
  return rem;
}

/** Mask predicate `mask` at column `x`, row `y`: `true` flips the module. */
export function qrMaskApplies(mask: number, x: number, y: number): boolean {
  switch (mask) {
    case 0:
      return (x + y) % 2 === 0;
    case 1:
      return y % 2 === 0;
    case 2:
      return x % 3 === 0;
    case 3:
      return (x + y) % 3 === 0;
    case 4:
      return (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0;
    case 5:
      return ((x * y) % 2) + ((x * y) % 3) === 0;
    case 6:
      return (((x * y) % 2) + ((x * y) % 3)) % 2 === 0;
    case 7:
      return (((x + y) % 2) + ((x * y) % 3)) % 2 === 0;
    default:
      throw new RangeError(`QR mask must be 0–7, got ${mask}`);
  }
}

/** Byte-mode bit stream for `bytes` in `version`, padded to the data capacity. */
function dataCodewords(bytes: Uint8Array, version: number, capacity: number): Uint8Array {
  const bits: number[] = [];
  const push = (value: number, length: number) => {
    for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  push(0b0100, 4);
  push(bytes.length, version <= 9 ? 8 : 16);
  for (const b of bytes) push(b, 8);
  const capacityBits = capacity * 8;
  push(0, Math.min(4, capacityBits - bits.length));
  push(0, (8 - (bits.length % 8)) % 8);
  const out = new Uint8Array(capacity);
  for (let i = 0; i < bits.length; i++) out[i >>> 3]! |= bits[i]! << (7 - (i & 7));
  for (let i = bits.length / 8, pad = 0xec; i < capacity; i++, pad ^= 0xec ^ 0x11) out[i] = pad;
  return out;
}

/** Splits data into blocks, adds error correction, interleaves. */
function interleave(data: Uint8Array, version: number, ecc: QrEcc): Uint8Array {
  const { eccPerBlock, blocks } = qrBlockLayout(version, ecc);
  const raw = qrRawCodewords(version);
  const shortBlocks = blocks - (raw % blocks);
  const shortLength = Math.floor(raw / blocks) - eccPerBlock;
  const dataBlocks: Uint8Array[] = [];
  const eccBlocks: Uint8Array[] = [];
  for (let i = 0, offset = 0; i < blocks; i++) {
    const length = shortLength + (i < shortBlocks ? 0 : 1);
    const block = data.subarray(offset, offset + length);
    offset += length;
    dataBlocks.push(block);
    eccBlocks.push(reedSolomon(block, eccPerBlock));
  }
  const out: number[] = [];
  for (let i = 0; i <= shortLength; i++) {
    for (const block of dataBlocks) if (i < block.length) out.push(block[i]!);
  }
  for (let i = 0; i < eccPerBlock; i++) for (const block of eccBlocks) out.push(block[i]!);
  return Uint8Array.from(out);
}

/** A matrix under construction: modules plus which of them are function patterns. */
interface Grid {
  size: number;
  dark: boolean[][];
  reserved: boolean[][];
}

function newGrid(version: number): Grid {
  const size = version * 4 + 17;
  const rows = () => Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  return { size, dark: rows(), reserved: rows() };
}

function setFunction(grid: Grid, x: number, y: number, dark: boolean): void {
  grid.dark[y]![x] = dark;
  grid.reserved[y]![x] = true;
}

/** Finder, separators, timing, alignment, dark module; format/version areas reserved. */
function drawFunctionPatterns(grid: Grid, version: number): void {
  const { size } = grid;
  for (let i = 0; i < size; i++) {
    setFunction(grid, 6, i, i % 2 === 0);
    setFunction(grid, i, 6, i % 2 === 0);
  }
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]] as const) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx, y = cy + dy;
        if (x < 0 || x >= size || y < 0 || y >= size) continue;
        const d = Math.max(Math.abs(dx), Math.abs(dy));
        setFunction(grid, x, y, d !== 2 && d !== 4);
      }
    }
  }
  const align = qrAlignmentPositions(version);
  const last = align.length - 1;
  for (let i = 0; i <= last; i++) {
    for (let j = 0; j <= last; j++) {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) continue;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          setFunction(
            grid,
            align[i]! + dx,
            align[j]! + dy,
            Math.max(Math.abs(dx), Math.abs(dy)) !== 1,
          );
        }
      }
    }
  }
  drawFormat(grid, 0); // reserves the format areas; real bits drawn after masking
  if (version >= 7) {
    const bits = qrVersionBits(version);
    for (let i = 0; i < 18; i++) {
      const bit = ((bits >>> i) & 1) === 1;
      const a = size - 11 + (i % 3), b = Math.floor(i / 3);
      setFunction(grid, a, b, bit);
      setFunction(grid, b, a, bit);
    }
  }
}

/** Draws both copies of the 15 format bits and the always-dark module. */
function drawFormat(grid: Grid, bits: number): void {
  const { size } = grid;
  const bit = (i: number) => ((bits >>> i) & 1) === 1;
  for (let i = 0; i <= 5; i++) setFunction(grid, 8, i, bit(i));
  setFunction(grid, 8, 7, bit(6));
  setFunction(grid, 8, 8, bit(7));
  setFunction(grid, 7, 8, bit(8));
  for (let i = 9; i < 15; i++) setFunction(grid, 14 - i, 8, bit(i));
  for (let i = 0; i < 8; i++) setFunction(grid, size - 1 - i, 8, bit(i));
  for (let i = 8; i < 15; i++) setFunction(grid, 8, size - 15 + i, bit(i));
  setFunction(grid, 8, size - 8, true);
}

/** Places codewords in the two-column zig-zag from the bottom right, skipping function modules. */
function drawCodewords(grid: Grid, codewords: Uint8Array): void {
  const { size } = grid;
  let i = 0;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    const upward = ((right + 1) & 2) === 0;
    for (let vert = 0; vert < size; vert++) {
      const y = upward ? size - 1 - vert : vert;
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        if (grid.reserved[y]![x]) continue;
        if (i < codewords.length * 8) {
          grid.dark[y]![x] = ((codewords[i >>> 3]! >>> (7 - (i & 7))) & 1) === 1;
          i++;
        }
      }
    }
  }
}

function applyMask(grid: Grid, mask: number): void {
  for (let y = 0; y < grid.size; y++) {
    for (let x = 0; x < grid.size; x++) {
      if (!grid.reserved[y]![x] && qrMaskApplies(mask, x, y)) grid.dark[y]![x] = !grid.dark[y]![x];
    }
  }
}

/**
 * Penalty score of a finished matrix (ISO/IEC 18004 §7.8.3): runs of five or
 * more (N1 = 3), 2×2 blocks (N2 = 3), finder-like 1:1:3:1:1 patterns with four
 * light modules on a side (N3 = 40), dark/light imbalance (N4 = 10).
 */
export function qrPenalty(modules: readonly (readonly boolean[])[]): number {
  const size = modules.length;
  const at = (x: number, y: number, transposed: boolean) =>
    transposed ? modules[x]![y]! : modules[y]![x]!;
  let penalty = 0;
  for (const transposed of [false, true]) {
    for (let y = 0; y < size; y++) {
      let run = 1;
      for (let x = 1; x <= size; x++) {
        if (x < size && at(x, y, transposed) === at(x - 1, y, transposed)) {
          run++;
        } else {
          if (run >= 5) penalty += 3 + (run - 5);
          run = 1;
        }
      }
      // Finder-like: dark light dark dark dark light dark, with 4 light before or after
      // (outside the symbol counts as light).
      const line = (x: number) => x >= 0 && x < size && at(x, y, transposed);
      for (let x = 0; x + 7 <= size; x++) {
        if (
          line(x) && !line(x + 1) && line(x + 2) && line(x + 3) && line(x + 4) && !line(x + 5) &&
          line(x + 6)
        ) {
          const lightBefore = !line(x - 1) && !line(x - 2) && !line(x - 3) && !line(x - 4);
          const lightAfter = !line(x + 7) && !line(x + 8) && !line(x + 9) && !line(x + 10);
          if (lightBefore || lightAfter) penalty += 40;
        }
      }
    }
  }
  let dark = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (modules[y]![x]) dark++;
      if (
        x + 1 < size && y + 1 < size && modules[y]![x] === modules[y]![x + 1] &&
        modules[y]![x] === modules[y + 1]![x] && modules[y]![x] === modules[y + 1]![x + 1]
      ) penalty += 3;
    }
  }
  const total = size * size;
  penalty += Math.floor(Math.abs(dark * 20 - total * 10) / total) * 10;
  return penalty;
}

/**
 * Encodes `text` (UTF-8) in byte mode into the smallest version that fits.
 * Throws a `RangeError` when it does not fit in `maxVersion`.
 */
export function encodeQr(text: string | Uint8Array, options: QrEncodeOptions = {}): QrCode {
  const ecc = options.ecc ?? "M";
  const minVersion = options.minVersion ?? 1;
  const maxVersion = options.maxVersion ?? 40;
  if (!(1 <= minVersion && minVersion <= maxVersion && maxVersion <= 40)) {
    throw new RangeError(`QR versions must satisfy 1 ≤ min ≤ max ≤ 40`);
  }
  if (
    options.mask !== undefined &&
    !(Number.isInteger(options.mask) && options.mask >= 0 && options.mask <= 7)
  ) {
    throw new RangeError(`QR mask must be 0–7, got ${options.mask}`);
  }
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  let version = minVersion;
  for (;; version++) {
    const headerBits = 4 + (version <= 9 ? 8 : 16);
    if (headerBits + bytes.length * 8 <= qrDataCodewords(version, ecc) * 8) break;
    if (version >= maxVersion) {
      throw new RangeError(
        `${bytes.length} bytes do not fit in a version ${maxVersion} QR code at level ${ecc}`,
      );
    }
  }
  const codewords = interleave(
    dataCodewords(bytes, version, qrDataCodewords(version, ecc)),
    version,
    ecc,
  );
  const base = newGrid(version);
  drawFunctionPatterns(base, version);
  drawCodewords(base, codewords);

  const render = (mask: number): Grid => {
    const grid: Grid = {
      size: base.size,
      dark: base.dark.map((row) => row.slice()),
      reserved: base.reserved,
    };
    applyMask(grid, mask);
    drawFormat(grid, qrFormatBits(ecc, mask));
    return grid;
  };
  let mask = options.mask ?? -1;
  let best: Grid | undefined;
  if (mask >= 0) {
    best = render(mask);
  } else {
    let bestPenalty = Infinity;
    for (let m = 0; m < 8; m++) {
      const grid = render(m);
      const penalty = qrPenalty(grid.dark);
      if (penalty < bestPenalty) [best, bestPenalty, mask] = [grid, penalty, m];
    }
  }
  return { version, ecc, mask, size: base.size, modules: best!.dark };
}

/**
 * Draws a QR code as text: each line holds two module rows using `▀`, `▄`,
 * `█` and space, surrounded by a quiet zone. Lines end with `\n`.
 */
export function renderQr(code: QrCode, options: QrRenderOptions = {}): string {
  const quiet = options.quietZone ?? 2;
  const lightOnDark = options.lightOnDark ?? true;
  const size = code.size;
  const full = size + quiet * 2;
  // Whether the module at (x, y) of the padded symbol is drawn as a block.
  const ink = (x: number, y: number): boolean => {
    const mx = x - quiet, my = y - quiet;
    const dark = mx >= 0 && my >= 0 && mx < size && my < size && code.modules[my]![mx]!;
    return lightOnDark ? !dark : dark;
  };
  let out = "";
  for (let y = 0; y < full; y += 2) {
    let line = "";
    for (let x = 0; x < full; x++) {
      const top = ink(x, y);
      const bottom = y + 1 < full ? ink(x, y + 1) : false;
      line += top ? (bottom ? "█" : "▀") : (bottom ? "▄" : " ");
    }
    out += line + "\n";
  }
  return out;
}

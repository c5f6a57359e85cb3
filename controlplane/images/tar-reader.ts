// Reads tar archives (ustar, GNU long names, PAX path headers) from a buffer. Truncated or
// malformed archives are errors, never partial results.

export interface TarFile {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  data: Buffer;
  linkname: string;
}

export class TarError extends Error {}

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function num(b: Buffer, off: number, len: number): number {
  if (b[off] & 0x80) {
    // base-256
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i];
    return n;
  }
  const s = str(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`bad numeric field "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === num(h, 148, 8);
}

function pax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString());
    if (!len) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

export function readTar(buf: Buffer): TarFile[] {
  const files: TarFile[] = [];
  let off = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  let ended = false;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) {
      ended = true;
      break;
    }
    if (!checksumOk(h)) throw new TarError(`corrupt tar header at offset ${off}`);
    const size = num(h, 124, 12);
    const type = String.fromCharCode(h[156] || 48);
    const dataStart = off + 512;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length)
      throw new TarError(
        `truncated archive: an entry needs ${size} bytes at offset ${dataStart}, the file ends at ${buf.length}`,
      );
    const data = buf.subarray(dataStart, dataEnd);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = str(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      paxPath = pax(data).path ?? null;
      continue;
    }
    if (type === 'g') continue;
    const prefix = str(h, 345, 155);
    let path = paxPath ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    longName = paxPath = null;
    path = path.replace(/^\.\//, '');
    files.push({
      path,
      data,
      linkname: str(h, 157, 100),
      type: type === '0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : 'other',
    });
  }
  if (!ended && off < buf.length) throw new TarError('truncated archive');
  if (!ended && files.length === 0) throw new TarError('not a tar archive');
  return files;
}

/**
 * Reads the archive that `tar -chf -` writes on a host (GNU tar; BusyBox tar
 * writes the same subset): regular files, with GNU long names (././@LongLink)
 * or pax `path` records, and hard links to a file earlier in the archive.
 * Strict on purpose: a bad checksum, an entry that runs past the end, or any
 * other entry type is an error, never a misread. Names lose their leading `/`
 * in the archive; they get it back here.
 *
 * Hand-written rather than a tar library: the facts are parsed synchronously,
 * once per host per run, from one in-memory buffer, and this subset is three
 * header types (see the tar(5) and GNU tar manuals' "Basic Tar Format").
 */
export interface TarFile {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  content: Buffer;
  /** a hard link (GNU tar writes one when a file with several links comes again): the file it is */
  linkOf?: string;
}

const BLOCK = 512;

function text(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** An octal field, or GNU's base-256 form (first byte 0x80) for values too large for it. */
function number(h: Buffer, off: number, len: number, what: string): number {
  if (h[off] === 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i];
    if (!Number.isSafeInteger(v)) throw new Error(`tar: ${what} is too large`);
    return v;
  }
  const s = text(h, off, len).trim();
  if (!/^[0-7]*$/.test(s)) throw new Error(`tar: ${what} is not a number`);
  return s === '' ? 0 : parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === number(h, 148, 8, 'checksum');
}

/** The `path` and `linkpath` records of a pax extended header ("<len> <key>=<value>\n" each). */
function paxNames(data: Buffer): { path?: string; linkpath?: string } {
  let off = 0;
  const out: { path?: string; linkpath?: string } = {};
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    const len = sp < 0 ? NaN : Number(data.toString('ascii', off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length) throw new Error('tar: a pax header is damaged');
    const rec = data.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    const key = eq > 0 ? rec.slice(0, eq) : '';
    if (key === 'path' || key === 'linkpath') out[key] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/**
 * Every file in `buf`, in archive order, and where the archive's end-of-archive
 * block starts. Throws when the archive is cut short or damaged.
 */
export function readTar(buf: Buffer): { files: TarFile[]; end: number } {
  const files: TarFile[] = [];
  const byName = new Map<string, TarFile>();
  let off = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: { path?: string; linkpath?: string } = {};
  for (;;) {
    if (off + BLOCK > buf.length) throw new Error('tar: the archive was cut short');
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) return { files, end: off };
    if (!checksumOk(h)) throw new Error(`tar: damaged header at byte ${off}`);
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]);
    const size = number(h, 124, 12, 'size');
    const start = off + BLOCK;
    if (start + size > buf.length) throw new Error('tar: the archive was cut short');
    const data = buf.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'K') {
      if (type === 'L') longName = text(data, 0, data.length);
      else longLink = text(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      pax = { ...pax, ...paxNames(data) };
      continue;
    }
    if (type === 'g') continue;
    const ustarPrefix = h.toString('latin1', 257, 265) === 'ustar\u000000' ? text(h, 345, 155) : '';
    let name = pax.path ?? longName ?? (ustarPrefix ? `${ustarPrefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    const link = pax.linkpath ?? longLink ?? text(h, 157, 100);
    longName = longLink = undefined;
    pax = {};
    name = name.startsWith('/') ? name : `/${name}`;
    let content = data;
    let linkOf: string | undefined;
    if (type === '1') {
      const target = byName.get(`/${link.replace(/^\/+/, '')}`);
      if (!target) throw new Error(`tar: ${name} links to a file that is not in the archive`);
      content = target.content;
      linkOf = target.path;
    } else if (type !== '0' && type !== '7') {
      throw new Error(`tar: ${name} is not a regular file (type ${JSON.stringify(type)})`);
    }
    const f: TarFile = { path: name, mode: number(h, 100, 8, 'mode') & 0o7777, uid: number(h, 108, 8, 'uid'), gid: number(h, 116, 8, 'gid'), content };
    if (linkOf !== undefined) f.linkOf = linkOf;
    files.push(f);
    byName.set(name, f);
  }
}

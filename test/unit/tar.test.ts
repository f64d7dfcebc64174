import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { readTar } from '../../src/facts/tar.js';

// Archives written by this machine's GNU tar, as the hosts write them (`tar -chf - -- PATHS`).
describe('readTar', () => {
  const dir = mkdtempSync(`${tmpdir()}/vipush-tar-`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tar = (args: string[]) => execFileSync('tar', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });

  const odd = Buffer.concat([Buffer.from('a\0b\n'), Buffer.from([0xff, 0xfe]), Buffer.from('no newline')]);
  writeFileSync(`${dir}/odd`, odd);
  writeFileSync(`${dir}/empty`, '');
  writeFileSync(`${dir}/block`, Buffer.alloc(512, 0x41));
  const deep = `${dir}/${'d'.repeat(60)}/${'e'.repeat(60)}`;
  mkdirSync(deep, { recursive: true });
  writeFileSync(`${deep}/${'f'.repeat(90)}.conf`, 'long\n', { mode: 0o640 });
  symlinkSync(`${dir}/odd`, `${dir}/link`);

  it('reads contents, modes and owners byte for byte, names absolute again', () => {
    const { files, end } = readTar(tar(['-chf', '-', '--', `${dir}/odd`, `${dir}/empty`, `${dir}/block`, `${dir}/link`]));
    expect(files.map((f) => f.path)).toEqual([`${dir}/odd`, `${dir}/empty`, `${dir}/block`, `${dir}/link`]);
    expect(files[0].content.equals(odd)).toBe(true);
    expect(files[1].content.length).toBe(0);
    expect(files[2].content.equals(Buffer.alloc(512, 0x41))).toBe(true);
    expect(files[3].content.equals(odd)).toBe(true); // -h: the symlink's target
    expect(files[0].mode).toBe(0o644);
    expect(files[0].uid).toBe(process.getuid!());
    expect(end % 512).toBe(0);
  });

  for (const format of ['gnu', 'posix', 'ustar']) {
    it(`reads a name longer than 100 bytes (--format=${format})`, () => {
      const path = `${deep}/${'f'.repeat(90)}.conf`;
      const { files } = readTar(tar(['-chf', '-', `--format=${format}`, '--', path]));
      expect(files.map((f) => [f.path, f.content.toString(), f.mode])).toEqual([[path, 'long\n', 0o640]]);
    });
  }

  it('reads a large uid and gid (GNU base-256 fields)', () => {
    const { files } = readTar(tar(['-chf', '-', '--owner=:3000000000', '--group=:3000000001', '--', `${dir}/odd`]));
    expect([files[0].uid, files[0].gid]).toEqual([3000000000, 3000000001]);
  });

  it('gives a hard link the content of the file it links to', () => {
    linkSync(`${dir}/odd`, `${dir}/hard`);
    try {
      const { files } = readTar(tar(['-cf', '-', '--', `${dir}/odd`, `${dir}/hard`]));
      expect(files.map((f) => f.path)).toEqual([`${dir}/odd`, `${dir}/hard`]);
      expect(files[1].content.equals(odd)).toBe(true);
      expect(files[1].linkOf).toBe(`${dir}/odd`);
      expect(files[0].linkOf).toBeUndefined();
    } finally {
      rmSync(`${dir}/hard`);
    }
  });

  for (const format of ['gnu', 'posix']) {
    it(`gives a hard link with a long target name its file (--format=${format})`, () => {
      const target = `${deep}/${'f'.repeat(90)}.conf`;
      const other = `${deep}/${'g'.repeat(90)}.conf`;
      linkSync(target, other);
      try {
        const { files } = readTar(tar(['-cf', '-', `--format=${format}`, '--', target, other]));
        expect(files.map((f) => [f.path, f.content.toString(), f.linkOf])).toEqual([
          [target, 'long\n', undefined],
          [other, 'long\n', target],
        ]);
      } finally {
        rmSync(other);
      }
    });
  }

  it('refuses what is not a regular file, a damaged header and an archive cut short', () => {
    expect(() => readTar(tar(['-cf', '-', '--', `${dir}/link`]))).toThrow(/is not a regular file/);
    expect(() => readTar(tar(['-cf', '-', '--', deep]))).toThrow(/is not a regular file/);
    const good = tar(['-chf', '-', '--', `${dir}/odd`, `${dir}/block`]);
    const bad = Buffer.from(good);
    bad[10] ^= 1;
    expect(() => readTar(bad)).toThrow(/damaged header/);
    expect(() => readTar(good.subarray(0, 700))).toThrow(/cut short/);
    expect(() => readTar(good.subarray(0, 512 * 3))).toThrow(/cut short/);
    expect(() => readTar(Buffer.alloc(0))).toThrow(/cut short/);
  });
});

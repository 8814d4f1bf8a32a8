import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteRange } from './byte-range.js';
import { META_FILENAME } from './slots.js';

/** What is kept beside a file's bytes. */
export interface FileMeta {
  size: number;
  contentType: string;
  /** ms since the epoch the upload completed: downloads check expiry with it, whatever the sweep has done. */
  createdMs: number;
}

/**
 * Where uploaded files live. The upload module only ever uses these three
 * calls, so a store on S3 or another object store can replace the disk one.
 * Keys are `<slot id>/<file name>` (safe path segments, checked by the caller).
 */
export interface FileStore {
  /** Stores the bytes of `body` under `key`; rejects (and keeps nothing) when the body is not exactly `meta.size` bytes. */
  put(key: string, body: Readable, meta: FileMeta): Promise<void>;
  /** The file and its meta, or null when there is none; `body` reads the whole file, or the range given. */
  get(key: string): Promise<{ meta: FileMeta; body: (range?: ByteRange) => Readable } | null>;
  delete(key: string): Promise<void>;
}

export class SizeMismatchError extends Error {
  constructor(readonly expected: number, readonly got: number) {
    super(`expected ${expected} bytes, got ${got > expected ? 'more' : got}`);
    this.name = 'SizeMismatchError';
  }
}

/**
 * Files on local disk: `<dir>/<slot id>/<file name>` plus `<dir>/<slot id>/.meta.json`.
 * Bytes are written to a temporary name and renamed into place once the size
 * is confirmed, so a reader never sees half a file.
 */
export class DiskFileStore implements FileStore {
  constructor(readonly dir: string) {}

  private paths(key: string): { file: string; meta: string; tmp: string } {
    const file = join(this.dir, key);
    return { file, meta: join(dirname(file), META_FILENAME), tmp: `${file}.part` };
  }

  async put(key: string, body: Readable, meta: FileMeta): Promise<void> {
    const p = this.paths(key);
    await mkdir(dirname(p.file), { recursive: true });
    let got = 0;
    const counted = async function* (source: Readable): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        got += (chunk as Buffer).length;
        // Limits before buffering: stop as soon as the body is too long.
        if (got > meta.size) throw new SizeMismatchError(meta.size, got);
        yield chunk as Buffer;
      }
    };
    try {
      await pipeline(body, counted, createWriteStream(p.tmp));
      if (got !== meta.size) throw new SizeMismatchError(meta.size, got);
      await writeFile(p.meta, JSON.stringify(meta));
      await rename(p.tmp, p.file);
    } catch (e) {
      await rm(p.tmp, { force: true });
      // The slot's directory goes too: phones drop uploads often, and each failed one left an empty directory
      // (and perhaps the meta) that nothing else removes, since the sweep only forgets slots never uploaded.
      await rm(p.meta, { force: true });
      await rmdir(dirname(p.file)).catch(() => {});
      throw e;
    }
  }

  async get(key: string): Promise<{ meta: FileMeta; body: (range?: ByteRange) => Readable } | null> {
    // The metadata beside a file is the store's, not a file anyone uploaded.
    if (basename(key) === META_FILENAME) return null;
    const p = this.paths(key);
    try {
      const [meta, st] = await Promise.all([readFile(p.meta, 'utf8'), stat(p.file)]);
      const parsed = JSON.parse(meta) as Omit<FileMeta, 'createdMs'> & { createdMs?: number };
      // Files stored before createdMs was kept: the file's own time is when its upload completed.
      return { meta: { size: st.size, contentType: parsed.contentType, createdMs: parsed.createdMs ?? st.mtimeMs }, body: (range) => createReadStream(p.file, range) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(dirname(this.paths(key).file), { recursive: true, force: true });
  }
}

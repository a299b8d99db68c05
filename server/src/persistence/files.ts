import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** fsync of a directory, so a rename in it is durable. */
export function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems do not support fsync on directories; the rename is still atomic.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * Replaces a small file atomically and durably: `text` into `tmp` (mode 0600), fsync, rename over `path`,
 * fsync of the directory. A crash leaves the old file or the new one, never a mix.
 */
export function writeFileAtomicSync(path: string, text: string, tmp = `${path}.tmp`): void {
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(dirname(path));
}

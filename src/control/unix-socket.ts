/**
 * The Unix-socket plumbing both control servers share (the JSON control
 * socket and the BIRD-compatible ones): is a socket file in use, listen on
 * it with the daemon's permissions, remove it on close.
 */
import { connect, type Server } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';

/** True when something accepts connections on the Unix socket `path` (a daemon too busy to accept within 2 s counts). */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    const timer = setTimeout(() => done(true), 2000);
    const done = (inUse: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(inUse);
    };
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

/** Creates the directory, listens on `path` (the caller removed any old file) and makes it 0660 (root and its group). */
export async function listenUnix(server: Server, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o660);
}

/** Stops `server` (when there is one) and removes its socket file. */
export async function closeUnix(server: Server | null, path: string): Promise<void> {
  if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

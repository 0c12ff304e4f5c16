/**
 * The console's static files (assets/console.js, assets/console.css), shipped in the package and
 * read once from disk: beside this module when copied there, else in the source tree that
 * dist/actors/host/console/ was compiled from. Nothing is loaded from anywhere else.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Where the assets may be: beside this file, or (running from dist/) in the sources. */
const assetDirs = [join(here, 'assets'), join(here, '..', '..', '..', '..', 'actors', 'host', 'console', 'assets')];
/** An asset larger than this is refused (they are a few kilobytes). */
const assetBytesMax = 512 * 1024;

interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
}

const ASSETS: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

const cache = new Map<string, Asset>();

/** A console asset by file name, or an Error saying where it was looked for. */
export function consoleAsset(name: string): Asset | Error {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const contentType = ASSETS[name];
  if (contentType === undefined) return new Error(`no console asset ${name}`);
  for (const dir of assetDirs) {
    try {
      const body = readFileSync(join(dir, name));
      if (body.length > assetBytesMax) return new Error(`console asset ${name} is larger than ${assetBytesMax} bytes`);
      const a = { contentType, body };
      cache.set(name, a);
      return a;
    } catch {
      // the next place
    }
  }
  return new Error(`console asset ${name} not found in ${assetDirs.join(' or ')}`);
}

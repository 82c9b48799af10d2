import fs from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';

/** The dashboard's files, by URL. Only these are served: there is no directory to traverse. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

// Everything from this origin, nothing inline, no frames: the page holds the admin token.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The assets live in src/dashboard/assets, found from src/http (tests) and from dist/src/http (the build). */
export function dashboardAssetsDir(): string {
  const candidates = [
    path.join(__dirname, '..', 'dashboard', 'assets'),
    path.join(__dirname, '..', '..', '..', 'src', 'dashboard', 'assets'),
  ];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
  if (found === undefined) {
    throw new Error(`the dashboard's files are missing (looked in ${candidates.join(', ')})`);
  }
  return found;
}

/** Serves the dashboard at / (read once at start). It needs no token: it asks for one and calls the API with it. */
export function dashboardMiddleware(dir = dashboardAssetsDir()) {
  const contents = new Map(
    Object.entries(FILES).map(([url, { file, type }]) => [url, { type, body: fs.readFileSync(path.join(dir, file)) }]),
  );
  return (request: Request, response: Response, next: NextFunction): void => {
    const asset = request.method === 'GET' || request.method === 'HEAD' ? contents.get(request.path) : undefined;
    if (asset === undefined) {
      next();
      return;
    }
    response.setHeader('content-type', asset.type);
    response.setHeader('content-security-policy', CSP);
    response.send(asset.body);
  };
}

// Every response of both listeners carries Cache-Control: no-store: session state, QR codes and
// even the pages must never be served from a cache.
import type { RequestHandler } from 'express';

export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

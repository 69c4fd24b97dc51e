// JSON request bodies: application/json only (415 otherwise), at most 16 KiB (413), valid JSON
// (400). The error handler maps body-parser's failures onto the catalog.
import express, { type RequestHandler } from 'express';
import { errors } from '../errors.js';

export const BODY_LIMIT = '16kb';

const parse = express.json({ limit: BODY_LIMIT, strict: true, type: () => true });

export const jsonBody: RequestHandler = (req, res, next) => {
  if (!req.is('application/json')) {
    next(errors.unsupportedMediaType());
    return;
  }
  parse(req, res, next);
};

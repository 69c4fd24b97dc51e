import { describe, expect, it } from 'vitest';
import { errors, invalidField } from '../../src/errors.js';
import { httpAnswer } from '../../src/http/statuses.js';

describe('the statuses of the error catalog', () => {
  it('a wait the error carries becomes Retry-After in whole seconds, rounded up, at least 1', () => {
    expect(httpAnswer(errors.handOutInProgress(1))).toEqual({ status: 503, retryAfterS: 1 });
    expect(httpAnswer(errors.handOutInProgress(1_000))).toEqual({ status: 503, retryAfterS: 1 });
    expect(httpAnswer(errors.handOutInProgress(1_001))).toEqual({ status: 503, retryAfterS: 2 });
    expect(httpAnswer(errors.rateLimited('too many', 0))).toEqual({ status: 429, retryAfterS: 1 });
    expect(httpAnswer(errors.rateLimited('too many', 59_500))).toEqual({ status: 429, retryAfterS: 60 });
  });

  it('a fixed Retry-After, or none', () => {
    expect(httpAnswer(errors.storeUnavailable(new Error('down')))).toEqual({ status: 503, retryAfterS: 1 });
    expect(httpAnswer(errors.sessionNotFound())).toEqual({ status: 404, retryAfterS: undefined });
    expect(httpAnswer(errors.internal(new Error('bug')))).toEqual({ status: 500, retryAfterS: undefined });
  });

  it('a malformed field is 400, whatever the field', () => {
    expect(invalidField('ifVersion', 'is too large').code).toBe('invalid_if_version');
    expect(httpAnswer(invalidField('ifVersion', 'is too large'))).toEqual({ status: 400, retryAfterS: undefined });
    expect(httpAnswer(invalidField('since', 'must be a whole number'))).toEqual({ status: 400, retryAfterS: undefined });
  });

  it("a library's refusal keeps the library's own 4xx status, and is 400 otherwise", () => {
    expect(httpAnswer(errors.badRequest('bad request', Object.assign(new Error('x'), { status: 415 }))).status).toBe(415);
    expect(httpAnswer(errors.badRequest('bad request', Object.assign(new Error('x'), { status: 500 }))).status).toBe(400);
    expect(httpAnswer(errors.badRequest('bad request')).status).toBe(400);
  });
});

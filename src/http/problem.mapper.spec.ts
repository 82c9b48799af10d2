import { BadRequestException, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { AdminError } from '../admin/admin.errors';
import { FsError } from '../common/errors/fs-error';
import { GridError } from '../grid/grid.errors';
import { StateError } from '../state/state.errors';
import { TahoeError } from '../tahoe/tahoe.errors';
import { problemFor } from './problem.mapper';

const context = { instance: '/admin/x', correlationId: 'corr-1' };
const CAP = 'URI:DIR2:' + 'a'.repeat(26) + ':' + 'b'.repeat(52);

describe('problemFor', () => {
  it('should map domain errors through their status tables, with their code and detail', () => {
    expect(problemFor(new FsError('ENOENT', 'no inode 9'), context)).toMatchObject({
      status: 404,
      unexpected: false,
      document: {
        type: 'urn:riverfs:problem:enoent',
        title: 'Not Found',
        status: 404,
        code: 'ENOENT',
        detail: 'ENOENT: no inode 9',
        instance: '/admin/x',
        correlationId: 'corr-1',
      },
    });
    const tahoe = new TahoeError({ code: 'UNAVAILABLE', operation: 'gridStatus', detail: 'ECONNREFUSED' });
    expect(problemFor(tahoe, context)).toMatchObject({ status: 503, document: { code: 'TAHOE_UNAVAILABLE' } });
    expect(problemFor(new StateError('CLOSED', 'closed'), context).document).toMatchObject({
      status: 503,
      code: 'STATE_CLOSED',
    });
    expect(problemFor(new GridError('LOCKED', 'busy'), context).document.code).toBe('GRID_LOCKED');
    expect(problemFor(new FsError('ENOSPC'), context).status).toBe(507);
  });

  it('should carry the field reasons, extensions and headers of an admin error', () => {
    const error = new AdminError('VALIDATION_FAILED', 'path is bad', {
      errors: [{ field: 'path', reason: 'must be absolute' }],
      extensions: { failing: ['grid'], status: 999, code: 'HIJACK' },
      headers: { 'www-authenticate': 'Bearer' },
    });
    const problem = problemFor(error, context);
    expect(problem.status).toBe(400);
    expect(problem.document.errors).toEqual([{ field: 'path', reason: 'must be absolute' }]);
    expect(problem.document.failing).toEqual(['grid']);
    // Extensions may add members but never change the standard ones.
    expect(problem.document).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(problem.headers).toEqual({ 'www-authenticate': 'Bearer' });
  });

  it("should pass Nest's HTTP exceptions through with a code derived from the status", () => {
    expect(problemFor(new NotFoundException('Cannot GET /x'), context).document).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      detail: 'Cannot GET /x',
    });
    expect(problemFor(new PayloadTooLargeException(), context).document.code).toBe('PAYLOAD_TOO_LARGE');
    expect(problemFor(new BadRequestException(['a is bad', 'b is bad']), context).document.detail).toBe(
      'a is bad; b is bad',
    );
  });

  it('should answer an unknown error with a bare 500 that reveals nothing', () => {
    const problem = problemFor(new Error(`database password hunter2 near ${CAP}`), context);
    expect(problem).toMatchObject({ status: 500, unexpected: true, document: { code: 'INTERNAL_ERROR' } });
    expect(JSON.stringify(problem.document)).not.toMatch(/hunter2|URI:|at /);
    expect(problem.document.correlationId).toBe('corr-1');
  });

  it('should answer an exposed client error of the body parser with its own status', () => {
    const error = Object.assign(new Error('request aborted'), { status: 400, expose: true, type: 'request.aborted' });
    expect(problemFor(error, context)).toMatchObject({
      status: 400,
      unexpected: false,
      document: { code: 'BAD_REQUEST' },
    });
    const hidden = Object.assign(new Error('internal'), { status: 400, expose: false });
    expect(problemFor(hidden, context).status).toBe(500);
  });

  it('should redact caps from every text it shows', () => {
    const problem = problemFor(new FsError('EIO', `upload of ${CAP} failed`), context);
    expect(problem.document.detail).not.toContain(CAP);
    expect(problem.document.detail).toMatch(/URI:DIR2:<redacted:[0-9a-f]{8}>/);
  });
});

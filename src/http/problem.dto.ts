import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';

export class FieldProblemDto {
  @ApiProperty({ example: 'path', description: 'Dotted path of the field; `body` for the body as a whole' })
  field!: string;

  @ApiProperty({ example: 'path must not contain "." or ".." segments' })
  reason!: string;
}

/** RFC 9457 problem details, as every error of this API is answered. */
export class ProblemDto {
  @ApiProperty({ example: 'urn:riverfs:problem:validation-failed' })
  type!: string;

  @ApiProperty({ example: 'Bad Request' })
  title!: string;

  @ApiProperty({ example: 400 })
  status!: number;

  @ApiProperty({ example: 'path must not contain "." or ".." segments' })
  detail!: string;

  @ApiProperty({ example: '/admin/inodes' })
  instance!: string;

  @ApiProperty({
    example: 'VALIDATION_FAILED',
    description:
      'Stable code: a domain error code (ENOENT, TAHOE_UNAVAILABLE, SYNC_UNAVAILABLE…) or one from the status',
  })
  code!: string;

  @ApiProperty({
    example: '6f1c2a44-3c4e-4d8e-9a57-2b8f0e1d9c11',
    description: 'Also in the x-correlation-id header and in the server log',
  })
  correlationId!: string;

  @ApiPropertyOptional({ type: [FieldProblemDto], description: 'Each invalid field, for VALIDATION_FAILED' })
  errors?: FieldProblemDto[];
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: malformed JSON, unknown or invalid fields, or a path that is not absolute and clean',
  401: 'No bearer token, or a wrong one',
  403: 'reveal=true with a token that may not reveal caps',
  404: 'No such inode, path or job',
  409: 'Conflict with the current state (e.g. cancelling a finished job)',
  413: 'Request body larger than httpBodyLimit',
  415: 'Request body that is not JSON',
  429: 'Too many jobs running',
  500: 'Unexpected failure: quote the correlation id',
  502: 'Tahoe failed',
  503: 'A part the request needs is not available (Tahoe unreachable, sync not available yet, not ready)',
};

/** Documents the problem+json answers of a route, exactly these statuses. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  const all = [...new Set(statuses)].sort((a, b) => a - b);
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...all.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
      }),
    ),
  );
}

/** The answers possible on every /admin route (400, 401, 413, 415, 500), plus the route's own. */
export function ApiAdminProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return ApiProblems(400, 401, 413, 415, 500, ...statuses);
}

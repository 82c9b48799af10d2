import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationOptions } from 'class-validator';
import { AdminError, type FieldProblem } from '../admin/admin.errors';
import { fsPathProblem } from '../admin/fs-path.util';

/**
 * Query and path parameters arrive as strings. Only plain decimal digits become numbers: "1e3", "0x10", " 7" and
 * "" stay strings and fail @IsInt, instead of being read as 1000, 16, 7 and 0 the way Number() would.
 */
export function ToInteger(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^-?\d{1,30}$/.test(value) ? Number(value) : value,
  );
}

/** "true" and "false" become booleans; anything else ("1", "yes", "") stays as sent and fails @IsBoolean. */
export function ToBoolean(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value));
}

/** An absolute path inside the filesystem (see fsPathProblem); the message says what is wrong with it. */
export function IsFsPath(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFsPath',
      validator: {
        validate: (value: unknown) => fsPathProblem(value) === undefined,
        defaultMessage: (args) => `${args?.property ?? 'path'} ${fsPathProblem(args?.value) ?? 'is not a valid path'}`,
      },
    },
    options,
  );
}

function flatten(errors: ValidationError[], parent = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const field = parent === '' ? error.property : `${parent}.${error.property}`;
    for (const reason of Object.values(error.constraints ?? {})) {
      problems.push({ field: field === '' ? 'body' : field, reason });
    }
    problems.push(...flatten(error.children ?? [], field));
  }
  return problems;
}

/**
 * The global pipe: DTOs are transformed and validated, unknown members are refused (not silently dropped), and a
 * failure is a VALIDATION_FAILED problem listing every field with its reason.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors: ValidationError[]) => {
      const problems = flatten(errors);
      const list = problems.length > 0 ? problems : [{ field: 'body', reason: 'is not an acceptable value' }];
      return new AdminError('VALIDATION_FAILED', list.map((item) => item.reason).join('; '), { errors: list });
    },
  });
}

/** The field may only be given when `other` is not (e.g. a path or an inode number, not both). */
export function NotWith(other: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'notWith',
      constraints: [other],
      validator: {
        validate: (_value: unknown, args) => (args?.object as Record<string, unknown>)[other] === undefined,
        defaultMessage: (args) => `give either ${args?.property ?? 'this'} or ${other}, not both`,
      },
    },
    options,
  );
}

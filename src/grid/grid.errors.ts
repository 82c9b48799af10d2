export type GridErrorCode =
  | 'PYTHON_MISSING'
  | 'VENV_MISSING'
  | 'VENV_FAILED'
  | 'TAHOE_INSTALL_FAILED'
  | 'NODE_CREATE_FAILED'
  | 'NODE_START_FAILED'
  | 'NODE_STOP_FAILED'
  | 'NOT_READY'
  | 'LOCKED'
  | 'UNKNOWN_NODE';

export class GridError extends Error {
  constructor(
    readonly code: GridErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'GridError';
  }
}

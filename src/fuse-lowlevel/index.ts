export { LowLevelMount, type LowLevelMountOptions, errnoOf } from './session';
export * from './types';

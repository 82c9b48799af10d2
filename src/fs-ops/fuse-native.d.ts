/**
 * The parts of fuse-native 2.2.6 (with patches/fuse-native+2.2.6.patch) that RiverFS uses. The package ships no
 * types; this declaration follows the patched index.js.
 */
declare module 'fuse-native' {
  interface FuseOptions {
    /** Extra `-o` mount options, one per entry (added by our patch). */
    extraOptions?: string[];
    /** Paths and names travel as latin1, one char per byte (added by our patch). */
    bytePaths?: boolean;
    attrTimeout?: number;
    entryTimeout?: number;
    /** Milliseconds before fuse-native answers a call itself; false disables it. */
    timeout?: number | false;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
  }

  class Fuse {
    constructor(mountpoint: string, ops: Record<string, (...args: never[]) => void>, options?: FuseOptions);
    mount(callback: (error: Error | null) => void): void;
    unmount(callback: (error: Error | null) => void): void;
    static unmount(mountpoint: string, callback: (error: Error | null) => void): void;
    static readonly UTIME_NOW: number;
    static readonly UTIME_OMIT: number;
  }

  export = Fuse;
}

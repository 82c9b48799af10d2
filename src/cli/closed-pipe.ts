/**
 * `riverfs --help | head` closes the pipe before the help is written out; Node then raises EPIPE as an unhandled
 * 'error' event on stdout, a stack trace on stderr. A reader that went away wants no more output, which is not an
 * error of ours: drop what is left and carry on (a mount's shutdown must still run its drain), as `ls | head` does.
 */
const guarded = new WeakSet<NodeJS.WriteStream>();

export function ignoreClosedPipes(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    // main() runs many times in one test process: one listener per stream is enough.
    if (guarded.has(stream)) {
      continue;
    }
    guarded.add(stream);
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') {
        throw error;
      }
    });
  }
}

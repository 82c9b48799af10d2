import { ReplyBuffers } from './pack';

describe('ReplyBuffers', () => {
  it('hands back a buffer given back, for any size it holds', () => {
    const buffers = new ReplyBuffers();
    const first = buffers.take(1 << 20);
    expect(first.length).toBe(1 << 20);
    buffers.give(first);
    expect(buffers.take(4096)).toBe(first);
    expect(buffers.idle).toBe(0);
  });

  it('allocates at least its minimum, so that a small request first does not leave a buffer too small to reuse', () => {
    const buffers = new ReplyBuffers(8, 1 << 20);
    const first = buffers.take(32 * 1024);
    expect(first.length).toBe(1 << 20);
    buffers.give(first);
    expect(buffers.take(1 << 20)).toBe(first);
  });

  it('allocates when the buffers kept are too small or all taken', () => {
    const buffers = new ReplyBuffers(8, 4096);
    const small = buffers.take(4096);
    buffers.give(small);
    const large = buffers.take(8192);
    expect(large).not.toBe(small);
    expect(large.length).toBe(8192);
    const other = buffers.take(100);
    expect(other).toBe(small);
    expect(buffers.take(100)).not.toBe(small);
  });

  it('keeps at most the number it was given, so a burst of requests does not stay allocated', () => {
    const buffers = new ReplyBuffers(2);
    const taken = [buffers.take(10), buffers.take(10), buffers.take(10)];
    taken.forEach((buffer) => buffers.give(buffer));
    expect(buffers.idle).toBe(2);
  });
});

import { MetadataEvents } from './metadata-events';

describe('MetadataEvents', () => {
  it('should deliver to cache-stage listeners before reaction-stage ones, whatever the subscription order', () => {
    const bus = new MetadataEvents();
    const heard: string[] = [];
    bus.on('remoteApplied', () => heard.push('reaction 1'));
    bus.on('remoteApplied', () => heard.push('cache'), 'cache');
    bus.on('remoteApplied', () => heard.push('reaction 2'));
    bus.publish('remoteApplied', { inos: [5], names: [] });
    expect(heard).toEqual(['cache', 'reaction 1', 'reaction 2']);
  });

  it('should deliver only the kind subscribed to, with its payload', () => {
    const bus = new MetadataEvents();
    const committed: number[] = [];
    bus.on('contentCommitted', ({ ino }) => committed.push(ino));
    bus.publish('syncStateChanged', { inos: [1, 2] });
    bus.publish('contentCommitted', { ino: 9 });
    expect(committed).toEqual([9]);
  });

  it('should go on delivering after a listener throws, and log the failure', () => {
    const errors: string[] = [];
    const bus = new MetadataEvents({ error: (message: string) => errors.push(message) });
    const heard: number[] = [];
    bus.on('syncStateChanged', () => {
      throw new Error('listener broke');
    });
    bus.on('syncStateChanged', ({ inos }) => heard.push(...inos));
    expect(() => bus.publish('syncStateChanged', { inos: [3] })).not.toThrow();
    expect(heard).toEqual([3]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('listener broke');
  });

  it('should stop delivering to a listener once unsubscribed, including during a delivery', () => {
    const bus = new MetadataEvents();
    const heard: string[] = [];
    const stopSecond = bus.on('contentCommitted', () => heard.push('second'));
    bus.on('contentCommitted', () => {
      heard.push('first');
    });
    const stopThird = bus.on('contentCommitted', () => {
      heard.push('third');
      stopThird();
    });
    stopSecond();
    bus.publish('contentCommitted', { ino: 1 });
    bus.publish('contentCommitted', { ino: 2 });
    expect(heard).toEqual(['first', 'third', 'first']);
    expect(bus.listenerCount('contentCommitted')).toBe(1);
  });
});

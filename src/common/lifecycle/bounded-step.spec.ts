import { boundedStep } from './bounded-step';

describe('boundedStep', () => {
  function recorder(): { warn: (message: string) => void; warnings: string[] } {
    const warnings: string[] = [];
    return { warnings, warn: (message) => warnings.push(message) };
  }

  it('should hand back the value of a step that ends in time, logging nothing', async () => {
    const log = recorder();
    await expect(boundedStep('closing', 1000, log, () => Promise.resolve(7))).resolves.toEqual({ ok: true, value: 7 });
    expect(log.warnings).toEqual([]);
  });

  it('should log a step that fails and report it not done instead of throwing', async () => {
    const log = recorder();
    const outcome = await boundedStep('closing the database', 1000, log, () => Promise.reject(new Error('gone')));
    expect(outcome).toEqual({ ok: false, reason: 'failed: gone' });
    expect(log.warnings).toEqual(['closing the database failed: gone; going on']);
  });

  it('should give up on a step that never ends once its bound has passed', async () => {
    const log = recorder();
    const started = Date.now();
    const outcome = await boundedStep('draining', 50, log, () => new Promise<never>(() => undefined));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(outcome).toEqual({ ok: false, reason: 'did not finish within 0.1 s' });
    expect(log.warnings).toEqual(['draining did not finish within 0.1 s; going on']);
  });
});

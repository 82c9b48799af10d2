import { ForegroundActivity } from './foreground-activity';

describe('ForegroundActivity', () => {
  let now: number;
  let activity: ForegroundActivity;

  beforeEach(() => {
    now = 1_000_000;
    activity = new ForegroundActivity({ busyRequestsPerSecond: 100, windowMs: 500, now: () => now });
  });

  function requests(count: number): void {
    for (let index = 0; index < count; index++) {
      activity.note();
    }
  }

  it('should be busy once a window holds the busy rate, and not below it', () => {
    requests(49);
    expect(activity.busy()).toBe(false);
    requests(1);
    expect(activity.busy()).toBe(true);
  });

  it('should stay busy through the next window, then be quiet once two windows pass without requests', () => {
    requests(60);
    now += 500;
    expect(activity.busy()).toBe(true);
    now += 500;
    expect(activity.busy()).toBe(false);
  });

  it('should forget a burst after a long pause at once', () => {
    requests(60);
    now += 5_000;
    expect(activity.busy()).toBe(false);
    requests(10);
    expect(activity.busy()).toBe(false);
  });
});

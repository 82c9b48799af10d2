import { redactCapsInText } from '../tahoe/cap.util';
import { redactCapsAgain } from './redacted-text.util';

const DIRCAP = 'URI:DIR2:abcdefghijklmnopqrstuvwxyz:abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz';
const ROCAP = 'URI:DIR2-RO:abcdefghijklmnopqrstuvwxyz:abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz';

describe('redactCapsAgain', () => {
  it('should redact a cap like redactCapsInText', () => {
    const text = `upload to ${DIRCAP} failed`;
    expect(redactCapsAgain(text)).toBe(redactCapsInText(text));
    expect(redactCapsAgain(text)).not.toContain(DIRCAP);
  });

  it('should leave caps redacted already as they are, and redact the others around them', () => {
    const once = redactCapsInText(`publish of ${DIRCAP} failed`);
    expect(redactCapsAgain(once)).toBe(once);
    const mixed = `${once}; then ${ROCAP} answered 503`;
    expect(redactCapsAgain(mixed)).toBe(redactCapsInText(`publish of ${DIRCAP} failed; then ${ROCAP} answered 503`));
    expect(redactCapsAgain(mixed)).toMatch(
      /^publish of URI:DIR2:<redacted:[0-9a-f]{8}> failed; then URI:DIR2-RO:<redacted:[0-9a-f]{8}> answered 503$/,
    );
  });
});

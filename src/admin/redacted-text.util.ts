import { redactCapsInText } from '../tahoe/cap.util';

// A cap as redactCap leaves it. redactCapsInText would take its "URI:KIND:" for a cap of its own (the body may be
// empty) and add a second <redacted:…> after it.
const REDACTED_CAP = /((?:\b(?:ro|imm)\.)?URI:[A-Za-z0-9][A-Za-z0-9._-]*:<redacted:[0-9a-f]+>)/;

/**
 * redactCapsInText for text whose caps may be redacted already: the sync worker and the journal store errors
 * redacted, and the admin API redacts them again on the way out in case a writer did not.
 */
export function redactCapsAgain(text: string): string {
  return text
    .split(REDACTED_CAP)
    .map((part, index) => (index % 2 === 1 ? part : redactCapsInText(part)))
    .join('');
}

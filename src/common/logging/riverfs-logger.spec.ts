import { RiverFsLogger } from './riverfs-logger';

const DIRCAP = 'URI:DIR2:' + 'a'.repeat(26) + ':' + 'b'.repeat(52);
const FIXED = new Date('2026-11-24T12:00:00.000Z');

function capture(format: 'json' | 'pretty', level: 'log' | 'debug' | 'warn' = 'log') {
  const lines: string[] = [];
  const logger = new RiverFsLogger({ level, format, write: (line) => lines.push(line), now: () => FIXED });
  return { logger, lines };
}

describe('RiverFsLogger', () => {
  it('should write one JSON object per line with level, context and message', () => {
    const { logger, lines } = capture('json');
    logger.log('grid ready', 'LocalGridService');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({
      time: '2026-11-24T12:00:00.000Z',
      level: 'log',
      context: 'LocalGridService',
      msg: 'grid ready',
    });
  });

  it('should redact caps in messages, fields and stacks, plain or percent-encoded', () => {
    const { logger, lines } = capture('json');
    logger.error(`failed on ${DIRCAP}`, `Error: x\n    at /uri/${DIRCAP.replace(/:/g, '%3A')}`, 'Sync');
    logger.log({ msg: 'linked', cap: DIRCAP, nested: { caps: [DIRCAP] } });
    const text = lines.join('\n');
    expect(text).not.toContain('a'.repeat(26));
    expect(text).not.toContain('b'.repeat(52));
    expect(text).toContain('URI:DIR2:<redacted:');
  });

  it('should drop messages below the configured level', () => {
    const { logger, lines } = capture('pretty', 'warn');
    logger.log('not shown');
    logger.debug('not shown either');
    logger.warn('shown', 'Ctx');
    expect(lines).toEqual(['2026-11-24T12:00:00.000Z WARN    [Ctx] shown']);
    expect(logger.isLevelEnabled('error')).toBe(true);
    expect(logger.isLevelEnabled('verbose')).toBe(false);
  });

  it('should choose JSON when not on a terminal and readable lines on one', () => {
    const onTerminal: string[] = [];
    new RiverFsLogger({ level: 'log', format: 'auto', isTerminal: true, write: (l) => onTerminal.push(l) }).log('x');
    const offTerminal: string[] = [];
    new RiverFsLogger({ level: 'log', format: 'auto', isTerminal: false, write: (l) => offTerminal.push(l) }).log('x');
    expect(() => JSON.parse(onTerminal[0]) as unknown).toThrow();
    expect(JSON.parse(offTerminal[0])).toMatchObject({ msg: 'x' });
  });
});

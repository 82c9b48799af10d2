import { getIniValue, setIniValue } from './ini.util';

const CFG = `# -*- mode: conf; coding: utf-8 -*-
[node]
nickname = storage1
tub.port = tcp:41001:interface=127.0.0.1

[storage]
enabled = true
reserved_space = 1G

[helper]
enabled = false
`;

describe('tahoe.cfg editing', () => {
  it('should replace a key inside its own section only', () => {
    const edited = setIniValue(CFG, 'storage', 'reserved_space', '0');
    expect(getIniValue(edited, 'storage', 'reserved_space')).toBe('0');
    expect(edited).toContain('[helper]\nenabled = false');
    expect(getIniValue(edited, 'storage', 'enabled')).toBe('true');
  });

  it('should add a missing key at the end of its section, before the next one', () => {
    const edited = setIniValue(CFG, 'node', 'tub.location', 'tcp:127.0.0.1:41001');
    expect(edited.indexOf('tub.location')).toBeLessThan(edited.indexOf('[storage]'));
    expect(getIniValue(edited, 'node', 'tub.location')).toBe('tcp:127.0.0.1:41001');
  });

  it('should add a missing section at the end', () => {
    const edited = setIniValue(CFG, 'client', 'shares.happy', '3');
    expect(getIniValue(edited, 'client', 'shares.happy')).toBe('3');
    expect(getIniValue(edited, 'helper', 'enabled')).toBe('false');
  });
});

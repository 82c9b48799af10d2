/**
 * Minimal editing of tahoe.cfg (INI): set one key in one section, keeping every other line, comment and the
 * order as Tahoe's create-* commands wrote them.
 */
export function setIniValue(text: string, section: string, key: string, value: string): string {
  const lines = text.split('\n');
  let inSection = false;
  let sectionEnd = -1;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      if (inSection) {
        break;
      }
      inSection = header[1] === section;
      if (inSection) {
        sectionEnd = index + 1;
      }
      continue;
    }
    if (!inSection) {
      continue;
    }
    if (line !== '' && !line.startsWith('#') && !line.startsWith(';')) {
      sectionEnd = index + 1;
    }
    const match = /^([^=#;]+?)\s*=/.exec(line);
    if (match && match[1] === key) {
      lines[index] = `${key} = ${value}`;
      return lines.join('\n');
    }
  }
  if (sectionEnd === -1) {
    const suffix = text.endsWith('\n') ? '' : '\n';
    return `${text}${suffix}\n[${section}]\n${key} = ${value}\n`;
  }
  lines.splice(sectionEnd, 0, `${key} = ${value}`);
  return lines.join('\n');
}

export function getIniValue(text: string, section: string, key: string): string | undefined {
  let inSection = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      inSection = header[1] === section;
      continue;
    }
    if (!inSection) {
      continue;
    }
    const match = /^([^=#;]+?)\s*=\s*(.*)$/.exec(line);
    if (match && match[1] === key) {
      return match[2];
    }
  }
  return undefined;
}

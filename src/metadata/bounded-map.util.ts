/**
 * Makes room in `map` once it holds `max` keys: its oldest tenth goes (a Map iterates in insertion order). The
 * metadata cache's bounds: dropping a tenth at a time keeps the cost of a full map off every insertion.
 */
export function makeRoom(map: Map<unknown, unknown>, max: number): void {
  if (map.size < max) {
    return;
  }
  const drop = Math.ceil(map.size / 10);
  let dropped = 0;
  for (const key of map.keys()) {
    map.delete(key);
    if (++dropped >= drop) {
      break;
    }
  }
}

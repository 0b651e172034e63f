// Reads samples out of a Prometheus text exposition (coordinator, trigger daemon, Alertmanager).

/** Sum of the samples of `name` whose labels include `labels`. */
export function metricSample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
  }
  return total;
}

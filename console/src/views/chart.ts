// Line charts with uPlot: time on x (seconds), one line per series.

import uPlot from 'uplot'

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2']

/** A chart of `series` (label, values) over `times` (epoch seconds), `width` px wide. */
export function lineChart(times: number[], series: [string, (number | null)[]][], width = 640): HTMLElement {
  const holder = document.createElement('div')
  holder.className = 'chart'
  const options: uPlot.Options = {
    width,
    height: 180,
    series: [{}, ...series.map(([label], i) => ({ label, stroke: COLOURS[i % COLOURS.length], width: 2 }))],
    axes: [{}, {}],
  }
  // uPlot measures its container: build it once the holder is in the page.
  requestAnimationFrame(() => new uPlot(options, [times, ...series.map(([, values]) => values)] as uPlot.AlignedData, holder))
  return holder
}

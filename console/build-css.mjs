// Copies the page and its stylesheet (uPlot's, then the console's) into dist/, next to the
// bundle esbuild wrote: the three files `keel serve` embeds.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'

const here = new URL('.', import.meta.url)
const css = [
  readFileSync(new URL('node_modules/uplot/dist/uPlot.min.css', here), 'utf8'),
  readFileSync(new URL('src/console.css', here), 'utf8'),
].join('\n')
writeFileSync(new URL('dist/console.css', here), css)
copyFileSync(new URL('src/index.html', here), new URL('dist/index.html', here))

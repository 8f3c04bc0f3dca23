// An OTLP/HTTP receiver that accepts and discards: the far end of the export benchmarks, in a
// process of its own so it takes no time from the process measured. Prints its base URL, then
// serves until killed.
import { createServer } from 'node:http'

const server = createServer((request, response) => {
  request.resume()
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 })
    response.end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}\n`))

/** The server side of the tests' connections, to watch what Node holds for each. */
import { Effect } from "effect"
import type * as Http from "node:http"
import type * as Net from "node:net"

/**
 * Records the server's sockets from now on; `of(client)` is the server's end
 * of a client's TCP connection (matched by port).
 */
export const watchSockets = (server: Http.Server) =>
  Effect.sync(() => {
    const sockets: Array<Net.Socket> = []
    server.on("connection", (socket: Net.Socket) => sockets.push(socket))
    return {
      of: (client: Net.Socket): Net.Socket => {
        const found = sockets.find((socket) => socket.remotePort === client.localPort)
        if (found === undefined) throw new Error(`no server socket for the client port ${client.localPort}`)
        return found
      },
      all: (): ReadonlyArray<Net.Socket> => sockets
    }
  })

/** Watches the largest backlog Node holds for a socket: its `writableLength` after every write to it. */
export const trackBacklog = (socket: Net.Socket): () => number => {
  let largest = socket.writableLength
  const write = socket.write
  socket.write = function(this: Net.Socket, ...args: Array<any>) {
    const result = Reflect.apply(write, this, args) as boolean
    largest = Math.max(largest, this.writableLength)
    return result
  } as typeof socket.write
  return () => largest
}

export * from "./config.js"
export { metricsText } from "./meta.js"
export { prepareRead, readRequest } from "./read.js"
export { routes, serve, toHttpApp } from "./routes.js"

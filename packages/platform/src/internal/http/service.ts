export * from "./config.js"
export { metricsText } from "./meta.js"
export { checkRequest, prepareRead, readRequest, refusalResponse } from "./read.js"
export { routes, serve, toHttpApp } from "./routes.js"

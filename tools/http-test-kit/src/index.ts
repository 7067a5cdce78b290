export * as Arbitraries from "./arbitraries.js"
export * as Clients from "./clients.js"
export * as Handshakes from "./handshakes.js"
export * as Suites from "./suites.js"

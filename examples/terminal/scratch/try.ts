import { Effect } from "effect"
import * as fs from "node:fs"
import { chromium } from "playwright-core"
import * as DemoServer from "../src/DemoServer.js"

const program = Effect.gen(function*() {
  const demo = yield* DemoServer.make({
    port: 0,
    producer: { _tag: "Command", command: "bash", args: ["--norc", "--noprofile"] }
  })
  console.log(demo.url)
  yield* Effect.promise(async () => {
    const dir = fs.mkdtempSync("/tmp/chr-")
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      viewport: { width: 1000, height: 600 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    const page = context.pages()[0] ?? await context.newPage()
    page.on("console", (m) => console.log("PAGE", m.text()))
    page.on("pageerror", (e) => console.log("PAGEERROR", e))
    await page.goto(demo.url)
    await page.waitForFunction(() => (window as any).scrollbackDemo?.state.role === "controller", null, {
      timeout: 10000
    })
    await page.click("#terminal")
    await page.keyboard.type("echo hel''lo; tput cols; tput lines")
    await page.keyboard.press("Enter")
    await page.waitForTimeout(1500)
    console.log(await page.evaluate(() => JSON.stringify((window as any).scrollbackDemo.state)))
    console.log(
      await page.evaluate(() => {
        const t = (window as any).term
        const b = t.buffer.active
        const out = []
        for (let y = 0; y < b.length; y++) out.push(b.getLine(y).translateToString(true))
        return out.join("\n").trimEnd() + `\n[${t.cols}x${t.rows}]`
      })
    )
    await page.screenshot({ path: "/tmp/demo1.png" })
    const page2 = await context.newPage()
    await page2.goto(demo.baseUrl)
    await page2.waitForTimeout(1500)
    console.log(await page2.evaluate(() => JSON.stringify((window as any).scrollbackDemo.state)))
    await page2.screenshot({ path: "/tmp/demo2.png" })
    await context.close()
  })
}).pipe(Effect.scoped)
Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})

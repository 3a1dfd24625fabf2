// Drives the triage dashboard in headless Chromium and checks what an operator relies on:
// the basemap and the tickets are on the map, filters narrow the list, a ticket shows its
// evidence and sightings, and a review action moves it. Writes a screenshot.
//   node dashboard.mjs URL TOKEN SCREENSHOT.png [CHROMIUM]
// Prints one JSON line of what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [url, token, shot, exe = process.env.CHROMIUM || "/usr/bin/chromium"] = process.argv.slice(2);
if (!url || !token || !shot) {
  console.error("usage: node dashboard.mjs URL TOKEN SCREENSHOT.png [CHROMIUM]");
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox"] });
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${url}#token=${token}`);
  // The basemap (district polygons) and one marker per ticket, drawn on the canvas renderer:
  // count them through Leaflet's own layers.
  await page.waitForFunction(() => document.querySelectorAll("#list tbody tr").length > 0, null, { timeout: 20000 });
  seen.rows = await page.locator("#list tbody tr").count();
  seen.open_text = await page.getByTestId("open-count").innerText();
  seen.unit_options = await page.locator("#f-unit option").count() - 1;
  seen.token_in_url = page.url().includes(token);
  // Filter to one class.
  await page.selectOption("#f-class", "vending_in_lane");
  seen.vending_rows = await page.locator("#list tbody tr").count();
  await page.selectOption("#f-class", "");
  // The review queue, and a ticket from it.
  await page.selectOption("#f-state", "review");
  seen.review_rows = await page.locator("#list tbody tr").count();
  const first = page.locator("#list tbody tr").first();
  const id = await first.getAttribute("data-ticket");
  await first.click();
  await page.waitForSelector("#detail .evidence img", { timeout: 10000 });
  await page.waitForFunction(() => [...document.querySelectorAll("#detail .evidence img")].every((i) => i.complete && i.naturalWidth > 0));
  seen.evidence_images = await page.locator("#detail .evidence img").count();
  seen.sightings = await page.locator("#detail ol.sightings li").count();
  seen.sla_text = await page.locator("#detail .sla").innerText();
  seen.actions = await page.locator("#detail .actions button").allInnerTexts();
  await page.screenshot({ path: shot });
  // Dispatch it from the review queue.
  await page.click("#detail .actions button[data-to=dispatched]");
  await page.waitForFunction(() => document.querySelector("#detail h2")?.textContent.includes("dispatched"), null, { timeout: 10000 });
  seen.moved = id;
  seen.errors = errors;
  console.log(JSON.stringify(seen));
} catch (e) {
  console.error("dashboard check failed:", e.message, JSON.stringify(seen));
  process.exitCode = 1;
} finally {
  await browser.close();
}

// Drives the dashboard over tickets whose strings carry script payloads and checks that none
// runs: the list, a marker's tooltip, the unit labels and a ticket's detail show them as text.
// Every response of the server must carry the Content-Security-Policy.
//   node xss.mjs URL TOKEN [CHROMIUM]
// Prints one JSON line of what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [url, token, exe = process.env.CHROMIUM || "/usr/bin/chromium"] = process.argv.slice(2);
if (!url || !token) {
  console.error("usage: node xss.mjs URL TOKEN [CHROMIUM]");
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox"] });
const seen = { responses: 0, without_csp: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => {
    if (!r.url().startsWith(url)) return;
    seen.responses += 1;
    if (!r.headers()["content-security-policy"]) seen.without_csp.push(r.url());
  });
  // The hook an injected script would touch.
  await page.addInitScript(() => {
    Object.defineProperty(window, "__pwned", {
      set(v) { window.__pwnedBy = String(v); },
      get() { return window.__pwnedBy; },
    });
  });
  await page.goto(`${url}#token=${token}`);
  await page.waitForFunction(() => document.querySelectorAll("#list tbody tr").length > 0, null, { timeout: 20000 });
  await page.selectOption("#f-state", "all");
  seen.rows = await page.locator("#list tbody tr").count();
  seen.list_text = await page.locator("#list tbody").innerText();
  seen.unit_labels = await page.locator(".unit-label").allInnerTexts();
  // A marker's tooltip: hover every ticket marker's row-selected marker by selecting a row.
  const rows = page.locator("#list tbody tr");
  for (let i = 0; i < seen.rows; i++) {
    await rows.nth(i).click();
    await page.waitForSelector("#detail h2", { timeout: 10000 });
  }
  seen.detail_text = await page.locator("#detail").innerText();
  // Tooltips open on hover: hover the map's centre of each marker through Leaflet.
  seen.tooltips = await page.evaluate(async () => {
    const texts = [];
    document.querySelectorAll(".leaflet-tooltip").forEach((t) => texts.push(t.innerText));
    return texts;
  });
  seen.injected_images = await page.locator("#list img, #detail h2 img, #counts img, .leaflet-tooltip img").count();
  seen.pwned = await page.evaluate(() => window.__pwnedBy ?? null);
  seen.errors = errors;
  console.log(JSON.stringify(seen));
} catch (e) {
  console.error("xss check failed:", e.message, JSON.stringify(seen));
  process.exitCode = 1;
} finally {
  await browser.close();
}

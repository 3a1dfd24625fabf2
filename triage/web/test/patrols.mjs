// Drives the dashboard's patrol views in headless Chromium: the patrols panel (schedule, the
// next three runs in the plan's local time, the last runs with their state), a run's page (its
// route drawn on the map, its events and the tickets it found, each a link), the ticket's
// flights, and the operator's buttons (shown to an operator, never to a viewer). Writes a
// screenshot of a run's page.
//   node patrols.mjs URL VIEWER_TOKEN OPERATOR_TOKEN FLOWN_RUN OPEN_RUN SCREENSHOT.png [CHROMIUM]
// Prints one JSON line of what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [url, viewer, operator, flown, open, shot, exe = process.env.CHROMIUM || "/usr/bin/chromium"] =
  process.argv.slice(2);
if (!url || !viewer || !operator || !flown || !open || !shot) {
  console.error("usage: node patrols.mjs URL VIEWER OPERATOR FLOWN_RUN OPEN_RUN SCREENSHOT.png [CHROMIUM]");
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox"] });
const seen = { errors: [] };

async function page(token) {
  const p = await browser.newPage({ viewport: { width: 1400, height: 850 } });
  p.on("pageerror", (e) => seen.errors.push(e.message));
  await p.goto(`${url}#token=${token}`);
  await p.waitForSelector("#patrols .plan", { timeout: 20000 });
  return p;
}

async function openRun(p, id) {
  await p.click(`#patrols a[data-run="${id}"]`);
  await p.waitForFunction((id) => document.querySelector("#detail code")?.textContent === id, id, { timeout: 10000 });
}

try {
  // A viewer: the panel, and no button that changes anything.
  const v = await page(viewer);
  seen.viewer_run_now = await v.locator("#patrols button.run-now").count();
  await openRun(v, open);
  seen.viewer_cancel = await v.locator("#detail button.cancel-run").count();
  await v.close();

  // An operator.
  const p = await page(operator);
  const plan = p.locator("#patrols .plan").first();
  seen.plans = await p.locator("#patrols .plan").count();
  seen.schedule = await plan.getByTestId("schedule").innerText();
  seen.next = await plan.locator(".next").innerText();
  seen.last_runs = await plan.locator(".last-runs li").allInnerTexts();
  seen.last_states = await plan.locator(".last-runs .run-state").evaluateAll((xs) =>
    xs.map((x) => ({ state: x.dataset.state, colour: getComputedStyle(x).backgroundColor })));
  seen.docks = await p.getByTestId("docks").innerText();
  seen.operator_run_now = await p.locator("#patrols button.run-now").count();
  // The flown run: its route on the map, its events and its tickets.
  await openRun(p, flown);
  await p.waitForSelector("#map path.route", { timeout: 10000 });
  seen.route_paths = await p.locator("#map path.route").count();
  seen.route_points = await p.locator("#map path.route").evaluate((e) => (e.getAttribute("d").match(/L/g) || []).length + 1);
  seen.run_title = await p.locator("#detail h2").innerText();
  seen.run_events = await p.locator("#detail .run-events li").count();
  seen.run_tickets = await p.locator("#detail .run-tickets a").count();
  seen.flown_cancel = await p.locator("#detail button.cancel-run").count();
  seen.run_text = await p.locator("#detail").innerText();
  await p.screenshot({ path: shot });
  // Its ticket, and the flight that saw it.
  const ticket = await p.locator("#detail .run-tickets a").first().getAttribute("data-ticket");
  await p.click("#detail .run-tickets a");
  await p.waitForSelector("#detail .flights li", { timeout: 10000 });
  seen.ticket = ticket;
  seen.ticket_flights = await p.locator("#detail .flights a").evaluateAll((xs) => xs.map((x) => x.dataset.run));
  seen.ticket_flight_text = await p.locator("#detail .flights li").first().innerText();
  seen.route_after_ticket = await p.locator("#map path.route").count();
  // An open run: the operator cancels it from its page.
  await p.click("#detail .flights a");
  await p.waitForSelector("#map path.route", { timeout: 10000 });
  await p.evaluate((id) => { location.hash = "run=" + id; }, open);
  await p.waitForFunction((id) => document.querySelector("#detail code")?.textContent === id, open, { timeout: 10000 });
  seen.open_cancel = await p.locator("#detail button.cancel-run").count();
  await p.click("#detail button.cancel-run");
  await p.waitForFunction(() => document.querySelector("#detail h2 .run-state")?.dataset.state === "canceled", null, { timeout: 10000 });
  seen.after_cancel = await p.locator("#detail h2 .run-state").getAttribute("data-state");
  seen.cancel_after = await p.locator("#detail button.cancel-run").count();
  console.log(JSON.stringify(seen));
} catch (e) {
  console.error("patrols check failed:", e.message, JSON.stringify(seen));
  process.exitCode = 1;
} finally {
  await browser.close();
}

// Renders Mermaid charts in headless Chromium for flowparse.training.synth.mermaid_render.
// One browser, one page load: requests are JSON lines on stdin ({id, text, scale}); each answer
// is one JSON line on stdout: {id, ok, png (base64), width, height, scale, nodes: {nodeId: [x1, y1,
// x2, y2]}, edges: [{source, target, points, routed}], texts: {nodeId: shown text}, error}, in image
// pixels (CSS pixels x scale). routed: the points are Mermaid's route (data-points), not the drawn curve.
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--font-render-hinting=none"],
});
const page = await browser.newPage();
await page.setViewport({ width: 1600, height: 1200, deviceScaleFactor: 1 });
await page.setContent("<!doctype html><html><body style='margin:0;background:white'><div id='chart' style='display:inline-block'></div></body></html>");
await page.addScriptTag({ path: path.join(here, "node_modules/mermaid/dist/mermaid.min.js") });
await page.evaluate(() => mermaid.initialize({ startOnLoad: false, securityLevel: "strict", deterministicIds: true }));
process.stdout.write(JSON.stringify({ ready: true }) + "\n"); // the browser is up: requests may come

async function measure(id, text) {
  return page.evaluate(async (id, text) => {
    const holder = document.getElementById("chart");
    holder.innerHTML = "";
    const { svg } = await mermaid.render(`m${id}`, text);
    holder.innerHTML = svg;
    const el = holder.querySelector("svg");
    const vb = el.viewBox.baseVal;
    el.setAttribute("width", vb.width);
    el.setAttribute("height", vb.height);
    el.style.maxWidth = "none";
    const origin = el.getBoundingClientRect();
    const nodes = {};
    const texts = {}; // what each node shows, so tests can check labels survive escaping
    for (const g of el.querySelectorAll("g.node, g.rough-node")) {
      const match = /flowchart-(.+)-\d+$/.exec(g.id || "") || /^(.+)$/.exec(g.getAttribute("data-id") || "");
      if (!match) continue;
      let box = null;
      for (const part of g.children) {
        if (part.classList.contains("label")) continue; // the text, not the shape
        const r = part.getBoundingClientRect();
        if (r.width <= 0 || r.height <= 0) continue;
        box = box ? [Math.min(box[0], r.left), Math.min(box[1], r.top), Math.max(box[2], r.right), Math.max(box[3], r.bottom)]
          : [r.left, r.top, r.right, r.bottom];
      }
      if (box) nodes[match[1]] = [box[0] - origin.left, box[1] - origin.top, box[2] - origin.left, box[3] - origin.top];
      const label = g.querySelector(".label");
      texts[match[1]] = label ? label.textContent : "";
    }
    const edges = [];
    for (const p of el.querySelectorAll("path.flowchart-link")) {
      const match = /^L_(.+?)_(.+)_\d+$/.exec(p.getAttribute("data-id") || "");
      if (!match) continue;
      const ctm = p.getScreenCTM();
      const toPage = (x, y) => {
        const q = new DOMPoint(x, y).matrixTransform(ctm);
        return [q.x - origin.left, q.y - origin.top];
      };
      const points = [];
      const strokes = ((p.getAttribute("d") || "").match(/[Mm]/g) || []).length;
      const routed = p.getAttribute("data-points");
      if (strokes > 1 && routed) {
        // A hand-drawn edge is many short rough strokes: use the route Mermaid laid out instead.
        for (const q of JSON.parse(atob(routed))) points.push(toPage(q.x, q.y));
      } else {
        const length = p.getTotalLength();
        for (let k = 0; k <= 24; k++) {
          const q = p.getPointAtLength((length * k) / 24);
          points.push(toPage(q.x, q.y));
        }
      }
      edges.push({ source: match[1], target: match[2], points, routed: strokes > 1 && !!routed });
    }
    return { nodes, texts, edges, width: origin.width, height: origin.height, x: origin.left, y: origin.top };
  }, id, text);
}

async function render(request) {
  const m = await measure(request.id, request.text);
  // Measured in CSS pixels, which the device scale does not change: pick the scale afterwards,
  // so that no picture comes out longer than maxSide pixels.
  const maxSide = request.maxSide || 1600;
  const scale = Math.min(request.scale || 1, maxSide / Math.max(m.width, m.height, 1));
  await page.setViewport({ width: 1600, height: 1200, deviceScaleFactor: scale });
  const png = await page.screenshot({
    type: "png",
    clip: { x: m.x, y: m.y, width: m.width, height: m.height },
    captureBeyondViewport: true,
  });
  const px = (v) => v * scale;
  const nodes = Object.fromEntries(Object.entries(m.nodes).map(([k, b]) => [k, b.map(px)]));
  const edges = m.edges.map((e) => ({ ...e, points: e.points.map(([x, y]) => [px(x), px(y)]) }));
  return { id: request.id, ok: true, png: Buffer.from(png).toString("base64"), width: Math.round(px(m.width)),
    height: Math.round(px(m.height)), scale, nodes, edges, texts: m.texts };
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let request = {};
  try {
    request = JSON.parse(line);
    process.stdout.write(JSON.stringify(await render(request)) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: request.id, ok: false, error: String(e && e.message ? e.message : e) }) + "\n");
  }
}
await browser.close();

"use strict";
// The operators' web app: Inspect, Line, Product, Review. Talks to the API it is served by (same origin).
// The API key lives in this tab's sessionStorage only and goes out as x-api-key.
(function () {
  const BASE = location.origin + location.pathname.replace(/[^/]*$/, "");
  const $ = (id) => document.getElementById(id);
  const LABELS = { defective: "Defective", defect_free: "Defect-free", needs_review: "Needs review",
                   rejected: "Rejected", error: "Error", pending: "Inspecting…" };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child.nodeType ? child : String(child));
    }
    return node;
  }

  const badge = (verdict, big) => el("span", { class: `verdict v-${verdict}${big ? " big" : ""}` }, LABELS[verdict] || verdict);
  const when = (iso) => { const d = new Date(iso); return isNaN(d) ? iso || "" : d.toLocaleString(); };
  const percent = (x) => (typeof x === "number" ? `${(x * 100).toFixed(1)} %` : "—");

  let toastTimer;
  function toast(text) {
    const node = $("toast");
    node.textContent = text; node.hidden = false;
    clearTimeout(toastTimer); toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
  }
  function status(id, text, bad) { const node = $(id); node.textContent = text || ""; node.classList.toggle("bad", !!bad); }

  // ---- the API -----------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) { super((body && body.message) || `The API answered ${status}.`); this.status = status; this.body = body; }
  }
  async function api(path, options) {
    const request = Object.assign({ headers: {} }, options || {});
    request.headers = Object.assign({ "x-api-key": sessionStorage.getItem("apiKey") || "" }, request.headers);
    if (request.json !== undefined) {
      request.body = JSON.stringify(request.json);
      request.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(BASE + path, request);
    const body = await response.json().catch(() => null);
    if (response.status === 403) askForKey("That API key was refused; enter a valid one.");
    if (!response.ok) throw new ApiError(response.status, body);
    return { status: response.status, body };
  }
  const imageUrls = new Map();
  async function photo(inspectionId, query = "") {
    if (!imageUrls.has(inspectionId + query)) {
      imageUrls.set(inspectionId + query,
        api(`inspections/${encodeURIComponent(inspectionId)}/image${query}`).then((a) => a.body.url));
    }
    return imageUrls.get(inspectionId + query);
  }
  function photoElement(inspectionId, alt, fallback, query = "") {
    const img = el("img", { class: "photo", alt, src: fallback });
    if (inspectionId) photo(inspectionId, query).then((url) => { img.src = url; }).catch(() => {});
    return img;
  }
  // The photo with the model's heat map over it (docs/heatmaps.md), where the result has one.
  function heatmapElement(item) {
    if (!item.heatmap_key) return null;
    return el("figure", { class: "heatmap" },
      photoElement(item.inspection_id, `Heat map of ${item.product_id}`, undefined, "?kind=heatmap"),
      el("figcaption", {}, "Heat map: red where the model saw a defect, clear where it saw none"));
  }

  // ---- the key -----------------------------------------------------------------------------------------
  let pendingTab = "inspect";
  function askForKey(message) {
    document.querySelectorAll(".tab").forEach((t) => { t.hidden = true; });
    $("key-panel").hidden = false;
    if (message) status("inspect-status", message, true);
    $("api-key").focus();
  }
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("apiKey", $("api-key").value.trim());
    sessionStorage.setItem("reviewer", $("reviewer").value.trim());
    $("api-key").value = "";
    $("key-panel").hidden = true;
    show(pendingTab);
  });
  $("key-button").addEventListener("click", () => { $("reviewer").value = sessionStorage.getItem("reviewer") || ""; askForKey(); });

  // ---- tabs --------------------------------------------------------------------------------------------
  const TABS = ["inspect", "line", "product", "review"];
  function show(tab) {
    tab = TABS.includes(tab) ? tab : "inspect";
    pendingTab = tab;
    if (!sessionStorage.getItem("apiKey")) { askForKey(); return; }
    document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
    document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== `tab-${tab}`; });
    if (location.hash !== `#${tab}`) history.replaceState(null, "", `#${tab}`);
    if (tab === "review") loadQueue(true);
    clearInterval(lineTimer);
    if (tab === "line") { loadLine(); lineTimer = setInterval(loadLine, LINE_REFRESH_MS); }
  }
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));

  // ---- one result ----------------------------------------------------------------------------------------
  function resultPanel(node, result, localPhoto) {
    node.replaceChildren();
    node.className = `panel result ${result.verdict}`;
    const facts = el("dl", { class: "facts" });
    const fact = (name, value) => { if (value !== undefined && value !== null && value !== "") facts.append(el("dt", {}, name), el("dd", {}, value)); };
    if (typeof result.confidence === "number") {
      const meter = el("div", { class: "meter" }, el("span"));
      meter.firstChild.style.width = `${Math.round(result.confidence * 100)}%`;
      fact("Confidence", el("div", {}, percent(result.confidence), meter));
    }
    if (result.model_verdict) fact("Model verdict", badge(result.model_verdict));
    if (result.reviewed_by) fact("Reviewed", `${result.reviewed_by}, ${when(result.reviewed_at)}`);
    fact("Note", result.review_note);
    fact("Reason", result.reason);
    fact("Product", result.product_id);
    fact("Uploaded", when(result.uploaded_at));
    fact("Model", result.model_id);
    fact("Inspection", result.inspection_id);
    node.append(photoElement(result.inspection_id, `Photo of ${result.product_id}`, localPhoto),
                el("div", {}, el("div", { class: "muted" }, "Verdict"), badge(result.verdict, true), facts));
    const heatmap = heatmapElement(result);
    if (heatmap) node.append(heatmap);
    node.hidden = false;
  }

  // ---- Inspect -------------------------------------------------------------------------------------------
  const CONTENT_TYPES = ["image/jpeg", "image/png", "image/tiff", "image/bmp"];
  $("inspect-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const productId = $("inspect-product").value.trim();
    const file = $("inspect-photo").files[0];
    if (!file) return;
    const contentType = CONTENT_TYPES.includes(file.type) ? file.type : "image/jpeg";
    const button = $("inspect-button");
    const panel = $("inspect-result");
    const localPhoto = URL.createObjectURL(file);
    button.disabled = true;
    try {
      status("inspect-status", "Asking for an upload URL…");
      const upload = (await api("uploads", { method: "POST", json: { product_id: productId, content_type: contentType } })).body;
      if (file.size > upload.max_bytes) throw new Error(`The photo has ${file.size} bytes; at most ${upload.max_bytes} are accepted.`);
      status("inspect-status", "Uploading the photo…");
      const form = new FormData();
      Object.entries(upload.fields).forEach(([name, value]) => form.append(name, value));
      form.append("file", file);
      const put = await fetch(upload.url, { method: "POST", body: form });
      if (!put.ok) throw new Error(`The upload was refused (${put.status}).`);
      resultPanel(panel, { verdict: "pending", product_id: productId }, localPhoto);
      status("inspect-status", "Inspecting…");
      const path = `results/${encodeURIComponent(productId)}?key=${encodeURIComponent(upload.key)}&wait=20`;
      for (let attempt = 0; attempt < 6; attempt++) {
        const answer = await api(path);
        if (answer.status === 200) {
          resultPanel(panel, answer.body.result, localPhoto);
          status("inspect-status", `Inspected: ${LABELS[answer.body.result.verdict] || answer.body.result.verdict}.`);
          return;
        }
      }
      status("inspect-status", "No verdict after two minutes; look it up on the Product tab later.", true);
    } catch (error) {
      status("inspect-status", error.message, true);
    } finally {
      button.disabled = false;
    }
  });

  // ---- Product -------------------------------------------------------------------------------------------
  async function loadProduct(productId) {
    status("product-status", "Loading…");
    try {
      const body = (await api(`results/${encodeURIComponent(productId)}`)).body;
      resultPanel($("product-latest"), body.latest);
      $("product-count").textContent = `(${body.count})`;
      $("product-history").tBodies[0].replaceChildren(...body.history.map((r) => el("tr", {},
        el("td", {}, when(r.uploaded_at)), el("td", {}, badge(r.verdict)), el("td", {}, percent(r.confidence)),
        el("td", {}, r.model_verdict ? badge(r.model_verdict) : "—"), el("td", {}, r.reviewed_by || "—"),
        el("td", { class: "id" }, r.inspection_id))));
      $("product-result").hidden = false;
      status("product-status", "");
    } catch (error) {
      $("product-result").hidden = true;
      status("product-status", error.message, true);
    }
  }
  $("product-form").addEventListener("submit", (event) => { event.preventDefault(); loadProduct($("product-id").value.trim()); });

  // ---- Review --------------------------------------------------------------------------------------------
  const QUEUES = ["needs_review", "error"];
  let cursors = {};
  let shown = 0;
  async function loadQueue(fresh) {
    if (fresh) { cursors = {}; shown = 0; $("review-list").replaceChildren(); }
    status("review-status", "Loading…");
    try {
      const wanted = QUEUES.filter((v) => fresh || cursors[v]);
      const pages = await Promise.all(wanted.map((v) => api(
        `inspections?verdict=${v}&reviewed=false&limit=24${cursors[v] ? `&next=${encodeURIComponent(cursors[v])}` : ""}`)));
      const items = [];
      pages.forEach((page, i) => { cursors[wanted[i]] = page.body.next; items.push(...page.body.items); });
      items.sort((a, b) => (a.inspection_key < b.inspection_key ? 1 : -1));
      $("review-list").append(...items.map(reviewCard));
      shown += items.length;
      $("review-more").hidden = !QUEUES.some((v) => cursors[v]);
      updateCount();
      status("review-status", "");
      if (!shown) $("review-list").replaceChildren(el("div", { class: "panel empty" }, "Nothing to review. Every inspection has a verdict."));
    } catch (error) {
      status("review-status", error.message, true);
    }
  }
  function updateCount() {
    const count = $("review-list").querySelectorAll(".card").length;
    $("review-count").textContent = count + ($("review-more").hidden ? "" : "+");
    $("review-count").hidden = count === 0;
  }
  function reviewCard(item) {
    const note = el("textarea", { placeholder: "Note (optional)", maxlength: "1000", "aria-label": "Note" });
    const card = el("article", { class: "card", "data-inspection": item.inspection_id });
    async function decide(verdict) {
      card.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        const reviewer = sessionStorage.getItem("reviewer") || undefined;
        await api(`inspections/${encodeURIComponent(item.inspection_id)}/review`,
                  { method: "POST", json: { verdict, note: note.value.trim() || undefined, reviewer } });
        card.remove();
        updateCount();
        toast(`${item.product_id} marked ${LABELS[verdict].toLowerCase()}.`);
        if (!$("review-list").querySelector(".card") && $("review-more").hidden) loadQueue(true);
      } catch (error) {
        toast(error.message);
        card.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    }
    const detail = item.verdict === "error" ? (item.reason || "Not inspected")
      : `Model: ${LABELS[item.label] || item.label || "?"} at ${percent(item.confidence)}`;
    card.append(
      photoElement(item.inspection_id, `Photo of ${item.product_id}`),
      ...[heatmapElement(item)].filter(Boolean),
      el("div", { class: "body" },
        el("div", { class: "head" }, el("span", { class: "product" }, item.product_id), badge(item.verdict)),
        el("div", { class: "meta" }, when(item.uploaded_at)),
        el("div", { class: "meta" }, detail),
        note,
        el("div", { class: "actions" },
          el("button", { class: "defective", type: "button", onclick: () => decide("defective") }, "Defective"),
          el("button", { class: "defect_free", type: "button", onclick: () => decide("defect_free") }, "Defect-free"))));
    return card;
  }
  $("review-refresh").addEventListener("click", () => loadQueue(true));
  $("review-more").addEventListener("click", () => loadQueue(false));

  // ---- Line ----------------------------------------------------------------------------------------------
  // The last 24 hours from GET /inspections (one listing per model verdict, newest first), counted by the
  // verdict clients see (a reviewed result counts with the human one).
  const VERDICTS = ["defective", "needs_review", "error", "rejected", "defect_free"];
  const LINE_REFRESH_MS = 10000, LINE_PAGES = 5, HOUR = 3600000;
  let lineTimer;
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([name, value]) => node.setAttribute(name, value));
    children.forEach((child) => node.append(child));
    return node;
  }
  async function lastDay(verdict, since) {
    const items = [];
    let next = null;
    for (let page = 0; page < LINE_PAGES; page++) {
      const answer = await api(`inspections?verdict=${verdict}&since=${encodeURIComponent(since)}&limit=100` +
        (next ? `&next=${encodeURIComponent(next)}` : ""));
      items.push(...answer.body.items);
      next = answer.body.next;
      if (!next) break;
    }
    return items;
  }
  function summary(items, prefix) {
    const counts = Object.fromEntries(VERDICTS.map((v) => [v, 0]));
    items.forEach((item) => { counts[item.verdict] = (counts[item.verdict] || 0) + 1; });
    $(`${prefix}-total`).textContent = String(items.length);
    $(`${prefix}-rate`).textContent = items.length
      ? `${(100 * counts.defective / items.length).toFixed(1)} % defective` : "no inspections";
    $(`${prefix}-counts`).replaceChildren(...VERDICTS.filter((v) => counts[v]).map((v) =>
      el("span", { class: `tally v-${v}`, "data-verdict": v }, `${LABELS[v]} ${counts[v]}`)));
  }
  function chart(items, now) {
    const width = 960, height = 220, left = 36, bottom = 24, top = 8, hours = 24;
    const start = Math.floor(now / HOUR) * HOUR - (hours - 1) * HOUR;  // the current hour is the last bar
    const buckets = Array.from({ length: hours }, () => Object.fromEntries(VERDICTS.map((v) => [v, 0])));
    items.forEach((item) => {
      const index = Math.floor((Date.parse(item.uploaded_at) - start) / HOUR);
      if (index >= 0 && index < hours) buckets[index][item.verdict] = (buckets[index][item.verdict] || 0) + 1;
    });
    const most = Math.max(1, ...buckets.map((b) => VERDICTS.reduce((sum, v) => sum + b[v], 0)));
    const scale = (height - top - bottom) / most, step = (width - left) / hours, bar = step * 0.72;
    const graph = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "bars",
      "aria-label": `Inspections per hour over the last 24 hours, at most ${most} in one hour` });
    [0, most].forEach((value) => {
      const y = height - bottom - value * scale;
      graph.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "grid" }),
                   svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(value)));
    });
    buckets.forEach((bucket, i) => {
      let y = height - bottom;
      const x = left + i * step + (step - bar) / 2;
      VERDICTS.forEach((v) => {
        if (!bucket[v]) return;
        const h = bucket[v] * scale;
        y -= h;
        graph.append(svg("rect", { x, y, width: bar, height: h, class: `bar b-${v}`, "data-verdict": v, "data-hour": i },
          svg("title", {}, `${new Date(start + i * HOUR).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${bucket[v]} ${LABELS[v].toLowerCase()}`)));
      });
      if (i % 3 === 2 || i === hours - 1) {
        const last = i === hours - 1;  // the last label ends at the bar's right edge: never cut off
        graph.append(svg("text", { x: last ? x + bar : x + bar / 2, y: height - 6, "text-anchor": last ? "end" : "middle", class: "axis" },
          new Date(start + i * HOUR).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
      }
    });
    const legend = el("div", { class: "legend" }, ...VERDICTS.map((v) => el("span", { class: `key b-${v}` }, LABELS[v])));
    $("line-chart").replaceChildren(graph, legend);
  }
  function thumb(item) {
    const card = el("figure", { class: `thumb t-${item.verdict}`, "data-inspection": item.inspection_id },
      photoElement(item.inspection_id, `Photo of ${item.product_id}`),
      el("figcaption", {}, el("span", { class: "product" }, item.product_id), badge(item.verdict),
        el("span", { class: "meta" }, `${new Date(item.uploaded_at).toLocaleTimeString()} · ${percent(item.confidence)}`)));
    card.addEventListener("click", () => { $("product-id").value = item.product_id; show("product"); loadProduct(item.product_id); });
    return card;
  }
  let lineLoading = false, latestShown = null;
  async function loadLine() {
    if (lineLoading) return;
    lineLoading = true;
    const now = Date.now();
    try {
      const since = new Date(now - 24 * HOUR).toISOString();
      const lists = await Promise.all(VERDICTS.map((v) => lastDay(v, since)));
      const items = lists.flat().sort((a, b) => (a.uploaded_at < b.uploaded_at ? 1 : -1));
      summary(items.filter((item) => Date.parse(item.uploaded_at) >= now - HOUR), "line-hour");
      summary(items, "line-day");
      chart(items, now);
      const latest = items.slice(0, 24);
      const signature = latest.map((item) => `${item.inspection_id}:${item.verdict}`).join();
      if (signature !== latestShown || !latest.length) {  // redrawn only when something changed: no flicker
        latestShown = signature;
        $("line-latest").replaceChildren(...(latest.length ? latest.map(thumb)
          : [el("div", { class: "empty" }, "No inspections in the last 24 hours.")]));
      }
      status("line-status", `Updated ${new Date(now).toLocaleTimeString()}.`);
    } catch (error) {
      status("line-status", error.message, true);
    } finally {
      lineLoading = false;
    }
  }
  $("line-refresh").addEventListener("click", loadLine);

  show(location.hash.slice(1));
})();

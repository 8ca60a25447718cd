// The provider dashboard: reads /api/dashboard every 15 s and draws it.
// Every amount is shown with Units (internal/webunits/units.js), the exact
// value on hover.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace name, not a download
  const RESOURCES = ["storage", "bandwidth", "inference"];

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const msat = (sats) => sats * 1000;
  function when(ts, now) { return ts ? Units.duration(now - ts) + " ago" : ""; }

  function draw(d) {
    $("this-label").textContent = d.this_month.label;
    $("last-label").textContent = d.last_month.label;
    Units.show($("earn-this"), Units.sats(msat(d.this_month.sats)), Units.satsExact(msat(d.this_month.sats)));
    Units.show($("earn-last"), Units.sats(msat(d.last_month.sats)), Units.satsExact(msat(d.last_month.sats)));
    $("earn-this-note").textContent = d.this_month.unconfirmed
      ? Units.sats(msat(d.this_month.unconfirmed)) + " of it accepted offline, not swapped at the mint yet" : "";
    chart(d);

    if (d.providers_online === null) {
      $("providers").textContent = "unknown";
      $("providers-note").textContent = "the relays did not answer";
    } else {
      $("providers").textContent = d.providers_online + " of " + d.providers_seen;
      $("providers-note").textContent = d.providers_seen + (d.providers_seen === 1 ? " provider" : " providers") + " seen on the relays, this one included";
    }
    $("sessions").textContent = String(d.sessions);
    $("sessions-note").textContent = d.open_sessions + " open";
    if (d.storage_quota > 0) {
      Units.show($("storage"), Units.bytes(d.storage_used), Units.bytesExact(d.storage_used));
      $("storage-note").textContent = "of " + Units.bytes(d.storage_quota) + " (" + (100 * d.storage_used / d.storage_quota).toFixed(1) + "%)";
    } else {
      $("storage").textContent = "–";
      $("storage-note").textContent = "no storage sold";
    }
    Units.show($("bandwidth"), Units.bytes(d.bandwidth_bytes), Units.bytesExact(d.bandwidth_bytes));
    $("uptime").textContent = Units.duration(d.uptime);
    prices(d);

    const errs = $("errors");
    clear(errs);
    for (const m of d.errors || []) errs.append(el("li", "", m));
    $("updated").textContent = "updated " + new Date(d.now * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  // chart: for each resource, last month's and this month's earnings side by side.
  function chart(d) {
    const box = $("chart");
    clear(box);
    const rs = RESOURCES.filter((r) => d.this_month.by_resource[r] || d.last_month.by_resource[r] ||
      (d.prices || []).some((p) => p.resource === r));
    if (!rs.length) { box.append(el("p", "muted", "Nothing sold yet.")); return; }
    const W = 360, H = 200, L = 8, B = 26, T = 22;
    const vals = rs.flatMap((r) => [d.last_month.by_resource[r] || 0, d.this_month.by_resource[r] || 0]);
    const max = Math.max(1, ...vals);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "earnings by resource, last month and this month");
    const node = (parent, name, attrs, text) => {
      const e = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
      if (text !== undefined) e.textContent = text;
      parent.append(e);
      return e;
    };
    const plotH = H - B - T, gw = (W - L * 2) / rs.length, bw = Math.min(56, gw / 2 - 10);
    node(svg, "line", { x1: L, x2: W - L, y1: T + plotH, y2: T + plotH, class: "grid" });
    rs.forEach((r, i) => {
      const g = node(svg, "g", { "data-resource": r });
      const cx = L + gw * (i + 0.5);
      [["last", d.last_month, cx - bw - 3], ["this", d.this_month, cx + 3]].forEach(([which, m, x]) => {
        const sats = m.by_resource[r] || 0, h = Math.max(sats ? 2 : 0, (sats / max) * plotH), y = T + plotH - h;
        const rect = node(g, "rect", { x, y, width: bw, height: h, class: "bar " + which, "data-month": m.label, "data-sats": sats });
        node(rect, "title", {}, r + ", " + m.label + ": " + Units.satsExact(msat(sats)));
        node(g, "text", { x: x + bw / 2, y: y - 5, class: "value", "text-anchor": "middle" }, Units.sats(msat(sats)));
      });
      node(g, "text", { x: cx, y: H - 8, class: "axis", "text-anchor": "middle" }, r);
    });
    box.append(svg);
    const key = el("p", "muted small");
    key.append(el("span", "key last"), " " + d.last_month.label + "  ", el("span", "key this"), " " + d.this_month.label);
    box.append(key);
  }

  function prices(d) {
    const box = $("prices");
    clear(box);
    if (!(d.prices || []).length) { box.append(el("p", "muted", "Nothing for sale.")); return; }
    for (const p of d.prices) {
      const card = el("div", "price");
      card.dataset.resource = p.resource;
      const head = el("div", "head");
      const now = el("span", "now");
      p.prices.forEach((x, i) => {
        if (i) now.append(", ");
        now.append(Units.span(Units.sats(x.msat) + "/" + Units.unit(x.unit), Units.satsExact(x.msat)));
      });
      head.append(el("span", "", p.resource), now);
      card.append(head);
      const moved = p.moved;
      const first = p.prices[0] ? p.prices[0].msat : 0;
      const vsBase = p.base ? Math.round(100 * first / p.base) : 100;
      card.append(el("p", "why", moved
        ? "Moved " + when(moved.at, d.now) + " from " + Units.sats(moved.from) + " to " + Units.sats(moved.to) + ": " + moved.why + "."
        : "At the base price: it has not moved since the provider started."));
      card.append(el("p", "muted small", "Now " + vsBase + "% of the base " + Units.sats(p.base) + " (bounds " + Units.sats(p.min) + " – " +
        Units.sats(p.max) + "), load " + Math.round(p.load * 100) + "%" + (p.why ? "; last check " + when(p.checked_at, d.now) + ": " + p.why : "") + "."));
      box.append(card);
    }
  }

  async function refresh() {
    try {
      const resp = await fetch("/api/dashboard", { cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      draw(await resp.json());
      $("status").textContent = "live";
      $("status").className = "status good";
      document.body.dataset.loaded = "true";
    } catch (e) {
      $("status").textContent = "agentd not answering; retrying…";
      $("status").className = "status bad";
    }
  }
  refresh();
  setInterval(refresh, 15000);
})();

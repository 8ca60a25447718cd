// The offer browser: a live order book from the relay's websocket (offers,
// presence, deletions), trust ranks from the marketplace's /api/book, and
// filters applied in the page.
"use strict";

(() => {
  const { el, clear } = SM;
  const offers = new Map(); // address -> offer (newest version)
  const online = new Map(); // pubkey -> presence
  let book = null; // {trust, capacity} from /api/book, null = no marketplace
  let live = false;

  const $ = (id) => document.getElementById(id);
  const form = $("filters"), body = document.querySelector("#offers tbody");

  // Filters are kept in the URL so a filtered view can be shared.
  const params = new URLSearchParams(location.search);
  for (const [k, id] of [["resource", "f-resource"], ["region", "f-region"], ["ceiling", "f-ceiling"], ["trust", "f-trust"], ["sort", "f-sort"]]) {
    if (params.has(k)) $(id).value = params.get(k);
  }

  function filters() {
    return {
      resource: $("f-resource").value,
      region: $("f-region").value.trim().toLowerCase(),
      ceiling: $("f-ceiling").value === "" ? 0 : Math.round(Number($("f-ceiling").value) * 1000), // sats in the form, msat here
      trust: $("f-trust").value === "" ? 0 : Number($("f-trust").value),
      sort: $("f-sort").value,
    };
  }

  function trustOf(pk) { return book && pk in book.trust ? book.trust[pk] : null; }
  function capacityOf(o) { return book && o.address in book.capacity ? book.capacity[o.address] : o.capacity; }

  function visible(f) {
    const t = SM.now();
    const out = [];
    for (const o of offers.values()) {
      if (o.expiration && o.expiration <= t) continue;
      if (f.resource && o.resource !== f.resource) continue;
      if (f.region && !(o.geohash && o.geohash.startsWith(f.region))) continue;
      if (f.ceiling > 0 && o.maxPrice > f.ceiling) continue;
      if (f.trust > 0 && (trustOf(o.pubkey) || 0) < f.trust) continue;
      out.push(o);
    }
    const byPrice = (a, b) => a.maxPrice - b.maxPrice || a.createdAt - b.createdAt;
    if (f.sort === "trust") out.sort((a, b) => (trustOf(b.pubkey) || 0) - (trustOf(a.pubkey) || 0) || byPrice(a, b));
    else out.sort(byPrice);
    return out;
  }

  function isOnline(pk) {
    const p = online.get(pk);
    return !!p && (!p.expiration || p.expiration > SM.now());
  }

  let pending = false, lastSig = "";
  function render() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const f = filters();
      const rows = visible(f);
      // Rebuild the table only when what it shows changed, so a row under
      // the pointer is not replaced while someone clicks it.
      const sig = JSON.stringify(rows.map((o) => [o.address, o.createdAt, trustOf(o.pubkey), capacityOf(o), isOnline(o.pubkey),
        o.expiration ? SM.ago(o.expiration) : ""]));
      if (sig !== lastSig) {
        lastSig = sig;
        clear(body);
        for (const o of rows) body.append(row(o));
      }
      $("empty").hidden = rows.length > 0 || !live;
      $("count").textContent = live ? rows.length + " of " + countOpen() + " open offers shown" : "loading…";
    });
  }

  function row(o) {
    const tr = trustOf(o.pubkey);
    const on = isOnline(o.pubkey);
    // data-label names each cell where the phone layout stacks them.
    return el("tr", { "data-address": o.address, "data-offer": o.id, "data-provider": o.pubkey },
      el("td", { "data-label": "Resource" }, el("span", { class: "res res-" + o.resource }, o.resource)),
      el("td", { "data-label": "Offer", class: "title" }, el("a", { href: SM.providerURL(o.pubkey), class: "offer-link" }, o.title),
        o.models.length ? el("div", { class: "muted" }, o.models.join(", ")) : null),
      el("td", { "data-label": "Price", class: "num price" }, el("div", {}, SM.prices(o.prices))),
      el("td", { "data-label": "Per match", class: "num qty" }, SM.range(o.resource, o.minQuantity, o.maxQuantity)),
      el("td", { "data-label": "Capacity left", class: "num capacity" }, SM.quantity(o.resource, capacityOf(o))),
      el("td", { "data-label": "Region" }, o.geohash || "any"),
      el("td", { "data-label": "Tier" }, o.tier),
      el("td", { "data-label": "Trust", class: "num trust" }, tr === null ? "–" : String(tr)),
      el("td", { "data-label": "Pay with" }, [...new Set(o.payments)].join(", ")),
      el("td", { "data-label": "Expires", class: "nowrap" }, o.expiration ? SM.ago(o.expiration) : ""),
      el("td", { "data-label": "Provider", class: "provider nowrap" },
        el("span", {}, el("span", { class: on ? "dot on" : "dot", title: on ? "presence beacon fresh" : "no fresh beacon" }),
          el("a", { href: SM.providerURL(o.pubkey), class: "mono" }, SM.short(o.pubkey)))));
  }

  function countOpen() {
    const t = SM.now();
    let n = 0;
    for (const o of offers.values()) if (!o.expiration || o.expiration > t) n++;
    return n;
  }

  form.addEventListener("input", () => {
    const f = filters();
    const q = new URLSearchParams();
    if (f.resource) q.set("resource", f.resource);
    if (f.region) q.set("region", f.region);
    if (f.ceiling) q.set("ceiling", $("f-ceiling").value);
    if (f.trust) q.set("trust", String(f.trust));
    if (f.sort !== "price") q.set("sort", f.sort);
    history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
    render();
  });
  form.addEventListener("submit", (e) => e.preventDefault());

  let trustTimer = null;
  async function refreshTrust() {
    book = await SM.bookTrust();
    render();
  }
  function refreshTrustSoon() {
    if (trustTimer) return;
    trustTimer = setTimeout(() => { trustTimer = null; refreshTrust(); }, 700);
  }

  new SM.Relay({
    offers: [{ kinds: [SM.KIND.offer], limit: 1000 }, { kinds: [SM.KIND.presence], limit: 1000 }],
    deletions: [{ kinds: [SM.KIND.deletion], since: SM.now() }],
  }, {
    onEvent(sub, evt) {
      if (evt.kind === SM.KIND.offer) {
        const o = SM.parseOffer(evt);
        if (!o) return;
        const old = offers.get(o.address);
        if (old && old.createdAt > o.createdAt) return;
        offers.set(o.address, o);
        if (live) refreshTrustSoon();
      } else if (evt.kind === SM.KIND.presence) {
        const p = SM.parsePresence(evt);
        const old = online.get(p.pubkey);
        if (!old || old.createdAt <= p.createdAt) online.set(p.pubkey, p);
      } else if (evt.kind === SM.KIND.deletion) {
        for (const t of SM.tags(evt, "a")) {
          const [, pk] = t[1].split(":");
          if (pk === evt.pubkey) offers.delete(t[1]);
        }
      }
      render();
    },
    onEose(sub) {
      if (sub !== "offers") return;
      live = true;
      document.body.dataset.live = "true";
      refreshTrust();
    },
    onStatus(text) {
      $("status").textContent = text === "connected" ? "live" : text;
      $("status").className = "status" + (text === "connected" ? " live" : "");
    },
  });
  setInterval(refreshTrust, 15000);
  setInterval(render, 30000); // expirations
  render();
})();

/* The public page's map: the period's reports and fixes by block (an H3 cell, drawn as its
 * hexagon and coloured by its share of fixes), on the site's base map
 * (window.YunbaoPage.baseMap), polled from map.json every minute with the last version in
 * If-None-Match (a 304 when nothing changed). A hidden page does not poll; it refreshes
 * when shown again.
 *
 * No visible text lives here: it comes from #p-strings (translated by the server) or the
 * JSON (category names in both languages), always set as text, never as HTML.
 * Plain ES2017 for old phone browsers.
 */
(function () {
  "use strict";

  const box = document.getElementById("p-map");
  if (!box) return;
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const t = window.YunbaoPage.strings(json("p-strings"));
  const el = window.YunbaoPage.el;
  const cfg = box.dataset;
  const POLL_MS = (parseInt(cfg.poll, 10) || 60) * 1000;
  const ENGLISH = (document.documentElement.lang || "").slice(0, 2) === "en";
  const DEFAULT_CENTRE = [23.13, 113.26];
  const COLOURS = { new: "#f0a500", working: "#0b6bcb", fixed: "#1a7f37" };
  const state = { version: "", timer: null };

  const initial = json("p-initial");
  const map = window.YunbaoPage.baseMap(box, {
    tileUrl: cfg.tileUrl,
    areas: json("p-areas-geo"),
    unavailable: t("mapUnavailable"),
    // Over the blocks with reports when there are any (set before any layer is drawn, and
    // without an animation that a first look would catch half-way), else over the areas.
    view: (m, areas) => {
      if (!initial.cells.length) return window.YunbaoPage.fitAreas(m, areas, DEFAULT_CENTRE, 12);
      const points = initial.cells.reduce((all, c) => all.concat(c.outline), []);
      m.fitBounds(L.latLngBounds(points), { padding: [20, 20], maxZoom: 16, animate: false });
      return true;
    },
    // A phone scrolls the page with one finger; the map pans with two.
    leaflet: { scrollWheelZoom: false, tap: false },
  });
  const layer = map ? L.layerGroup().addTo(map) : null;

  function colour(n) {
    // The state most of the cell's reports are in; fixes win a tie (the good news counts).
    const order = ["fixed", "working", "new"];
    let best = "fixed";
    order.forEach((s) => { if (n[s] > n[best]) best = s; });
    return COLOURS[best];
  }

  function category(data, id) {
    const pair = data.categories[String(id)];
    if (!pair) return t("other");
    return ENGLISH ? pair[1] : pair[0];
  }

  function popup(data, cell) {
    const total = cell.n.new + cell.n.working + cell.n.fixed;
    const items = cell.items.map((item) => {
      const [cat, st, reported, fixed] = item;
      const when = [t("reported", { day: reported })];
      if (fixed) when.push(t("fixedOn", { day: fixed }));
      return el("li", null, category(data, cat) + " · " + t(st) + " · " + when.join(", "));
    });
    if (total > cell.items.length) items.push(el("li", null, t("more", { n: total - cell.items.length })));
    return el("div", { class: "pub-pop" }, el("b", { text: t("cell", { n: total }) }), el("ul", null, ...items));
  }

  function draw(data) {
    document.getElementById("p-total").textContent = data.total ? "(" + data.total + ")" : "";
    const status = [];
    if (!data.cells.length) status.push(t("empty"));
    if (data.truncated) status.push(t("truncated", { n: data.listed }));
    document.getElementById("p-status").textContent = status.join(" ");
    if (!layer) return;
    layer.clearLayers();
    const most = data.cells.reduce((m, c) => Math.max(m, c.n.new + c.n.working + c.n.fixed), 1);
    data.cells.forEach((cell) => {
      const total = cell.n.new + cell.n.working + cell.n.fixed;
      const fill = colour(cell.n);
      L.polygon(cell.outline, { color: fill, weight: 1.5, fillColor: fill, fillOpacity: 0.25 + 0.5 * (total / most) })
        // As wide as a phone's map allows, so the pop-up never runs off its side.
        .bindPopup(() => popup(data, cell), { maxWidth: Math.max(160, box.clientWidth - 70), autoPanPadding: [10, 10] })
        .bindTooltip(t("cell", { n: total }))
        .addTo(layer);
    });
  }

  function updated() {
    const time = new Date().toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
    document.getElementById("p-status").textContent = t("updated", { time: time });
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (document.hidden) return; // polled again when the page is shown
    try {
      const headers = { Accept: "application/json" };
      if (state.version) headers["If-None-Match"] = '"' + state.version + '"';
      const response = await fetch(cfg.jsonUrl, { headers: headers, credentials: "omit" });
      if (response.status === 200) {
        const data = await response.json();
        state.version = data.version;
        draw(data);
        if (data.cells.length && !data.truncated) updated();
      } else if (response.status !== 304) {
        document.getElementById("p-status").textContent = t("offline");
      }
    } catch (error) {
      document.getElementById("p-status").textContent = t("offline");
    }
    state.timer = setTimeout(refresh, POLL_MS);
  }

  state.version = initial.version;
  draw(initial);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  state.timer = setTimeout(refresh, POLL_MS);
  window.YunbaoPublic = { refresh: refresh, state: state, map: map };
})();

/* The live map: the latest positions of staff badges and vehicles, polled every few seconds.
 *
 * live.json answers with the rows and a version; the page sends the last version in
 * If-None-Match, so nothing moving costs a 304. Ages ("last seen 3 min ago") and greying
 * (older than FLEET_POSITION_MAX_AGE_MINUTES) are worked out here from the fix times and
 * the server's clock, so they move on between answers. A tab in the background does not
 * poll. Filters (staff, vehicles, recent only, unit) apply here, without asking again.
 *
 * No visible text lives here: it comes from #live-strings or from the JSON, and the JSON
 * goes into the page as text only (textContent), never as HTML.
 */
(() => {
  "use strict";

  const root = document.getElementById("f-live");
  if (!root) return;

  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const STRINGS = json("live-strings");
  const AREAS = json("live-areas");
  const cfg = root.dataset;
  const POLL_MS = (parseInt(cfg.poll, 10) || 10) * 1000;
  const STALE_MS = (parseInt(cfg.staleAfter, 10) || 900) * 1000;
  const LANG = document.documentElement.lang || undefined;
  const DEFAULT_CENTRE = [23.13, 113.26];
  const $ = (id) => document.getElementById(id);
  const filters = $("f-filters");
  const list = $("f-list");
  const statusLine = $("f-status");

  // Shared with the other pages: yunbao/web/static/yunbao/page.js.
  const t = window.YunbaoPage.strings(STRINGS);
  const el = window.YunbaoPage.el;

  let TIME;
  try {
    TIME = new Intl.DateTimeFormat(LANG, { timeZone: cfg.timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  } catch (e) {
    TIME = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  const state = { version: "", devices: [], offset: 0, timer: null, fitted: false, received: 0 };
  const now = () => Date.now() + state.offset;

  function duration(ms) {
    const minutes = Math.max(0, Math.floor(ms / 60000));
    if (minutes < 1) return null;
    if (minutes < 60) return t("minutes", { n: minutes });
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return t("hours", { n: hours });
    return t("days", { n: Math.floor(hours / 24) });
  }

  function seen(device) {
    const age = now() - new Date(device.seen).getTime();
    const text = duration(age);
    return { stale: age > STALE_MS, text: text ? t("seen", { age: text }) : t("justNow") };
  }

  // --- Filters ----------------------------------------------------------------------------

  function wanted() {
    const form = new FormData(filters);
    return {
      badge: form.get("badge") !== null,
      vehicle: form.get("vehicle") !== null,
      recent: form.get("recent") !== null,
      unit: form.get("unit") || "",
    };
  }

  function shown() {
    const w = wanted();
    return state.devices.filter((d) => {
      if (!w[d.kind]) return false;
      if (w.unit && d.unit !== w.unit) return false;
      return !(w.recent && seen(d).stale);
    });
  }

  // --- The map ----------------------------------------------------------------------------

  const ICONS = {
    badge: '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">' +
      '<rect x="1" y="1" width="22" height="22" rx="11" fill="#1a7f37" stroke="#fff" stroke-width="2"/>' +
      '<circle cx="12" cy="8.5" r="3.2" fill="#fff"/><path d="M5.8 18.5c.8-3.4 3.3-5 6.2-5s5.4 1.6 6.2 5z" fill="#fff"/></svg>',
    vehicle: '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">' +
      '<rect x="1" y="1" width="22" height="22" rx="5" fill="#8a4b08" stroke="#fff" stroke-width="2"/>' +
      '<path d="M4 7.5h9.5v7.5H4zM13.5 10h3.6l2.9 3v2h-6.5z" fill="#fff"/>' +
      '<circle cx="7.5" cy="16.6" r="1.9" fill="#fff"/><circle cx="16.5" cy="16.6" r="1.9" fill="#fff"/></svg>',
  };

  let map = null;
  let layer = null;
  const markers = new Map();

  function initMap() {
    map = window.YunbaoPage.baseMap($("f-live-map"), {
      tileUrl: cfg.tileUrl,
      areas: AREAS,
      unavailable: t("mapUnavailable"),
      view: (m, areas) => window.YunbaoPage.fitAreas(m, areas, DEFAULT_CENTRE, 12),
    });
    if (map) layer = L.layerGroup().addTo(map);
  }

  function describe(d) {
    const kind = d.kind === "vehicle" ? [d.type || t("vehicle"), d.plate && d.plate !== d.label ? d.plate : ""] : [t("badge"), d.staff && d.staff !== d.label ? d.staff : ""];
    const speed = d.speed === null || d.speed === undefined ? "" : t("speed", { n: Math.round(d.speed) });
    return {
      title: d.label,
      meta: kind.concat([d.unit, speed, d.valid ? "" : t("noFix")]).filter(Boolean).join(" · "),
    };
  }

  function popup(d) {
    const text = describe(d);
    return el("div", { class: "f-popup" },
      el("p", null, el("b", { text: text.title })),
      el("p", { class: "muted", text: text.meta }),
      el("p", { class: "muted", text: seen(d).text }),
      el("p", null, el("a", { href: d.track, text: t("track") })));
  }

  function drawMap(items) {
    if (!map) return;
    layer.clearLayers();
    markers.clear();
    items.forEach((d) => {
      const when = seen(d);
      const icon = L.divIcon({ className: "f-icon" + (when.stale ? " stale" : ""), html: ICONS[d.kind] || ICONS.badge, iconSize: [24, 24], iconAnchor: [12, 12] });
      const marker = L.marker([d.lat, d.lon], { icon: icon, keyboard: false, zIndexOffset: when.stale ? -100 : 0, title: d.label })
        .bindPopup(() => popup(d))
        .addTo(layer);
      marker.getElement().dataset.device = String(d.id);
      markers.set(d.id, marker);
    });
    if (!state.fitted && items.length) {
      map.fitBounds(L.latLngBounds(items.map((d) => [d.lat, d.lon])), { padding: [30, 30], maxZoom: 16 });
      state.fitted = true;
    }
  }

  // --- The list ---------------------------------------------------------------------------

  function drawList(items) {
    const rows = items.slice().sort((a, b) => {
      const sa = seen(a).stale;
      const sb = seen(b).stale;
      if (sa !== sb) return sa ? 1 : -1;
      return a.label.localeCompare(b.label, LANG);
    }).map((d) => {
      const when = seen(d);
      const text = describe(d);
      return el("li", { class: when.stale ? "stale" : null, "data-device": String(d.id) },
        el("a", {
          href: d.track,
          onclick: (event) => {
            const marker = markers.get(d.id);
            if (!marker || event.ctrlKey || event.metaKey || event.shiftKey) return; // a new tab
            // First tap shows it on the map; the popup links to the track.
            event.preventDefault();
            map.setView(marker.getLatLng(), Math.max(map.getZoom(), 16));
            marker.openPopup();
            $("f-live-map").scrollIntoView({ block: "nearest", behavior: "smooth" });
          },
        },
        el("span", { class: "f-label", text: text.title }),
        el("span", { class: "f-seen", text: when.text }),
        el("span", { class: "f-meta", text: text.meta })));
    });
    list.replaceChildren.apply(list, rows);
    if (!rows.length) list.appendChild(el("li", { class: "empty", text: state.devices.length ? t("noMatch") : t("none") }));
  }

  function render() {
    const items = shown();
    drawMap(items);
    drawList(items);
    if (!statusLine.classList.contains("trouble")) {
      statusLine.textContent = t("shown", { n: items.length, time: TIME.format(new Date(state.received)) });
    }
  }

  // --- Polling ----------------------------------------------------------------------------

  function apply(data) {
    state.offset = new Date(data.now).getTime() - Date.now();
    state.version = data.version;
    state.devices = data.devices;
    state.received = now();
    render();
  }

  function trouble(text) {
    statusLine.textContent = text;
    statusLine.classList.add("trouble");
  }

  function schedule() {
    clearTimeout(state.timer);
    if (!document.hidden) state.timer = setTimeout(refresh, POLL_MS);
  }

  async function refresh() {
    clearTimeout(state.timer);
    try {
      const headers = { Accept: "application/json" };
      if (state.version) headers["If-None-Match"] = '"' + state.version + '"';
      const response = await fetch(cfg.jsonUrl, { headers: headers, credentials: "same-origin", cache: "no-store" });
      const type = response.headers.get("Content-Type") || "";
      if (response.status === 304) {
        statusLine.classList.remove("trouble");
        state.received = now();
        render(); // ages move on
      } else if (!response.ok || type.indexOf("json") < 0) {
        trouble(t("sessionEnded"));
        return; // logged out or no longer allowed: every further answer would be the same
      } else {
        statusLine.classList.remove("trouble");
        apply(await response.json());
      }
    } catch (error) {
      trouble(t("offline"));
    }
    schedule();
  }

  filters.addEventListener("change", render);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });

  initMap();
  apply(json("live-initial"));
  schedule();
})();

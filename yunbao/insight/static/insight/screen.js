/* The big screen: KPI tiles, the live map (open orders, staff and vehicles, a heat map of
 * the last 30 days' reports by H3 cell), the overdue list and the alarms, polled from
 * screen.json every 30 s with the last version in If-None-Match (a 304 when nothing
 * changed). How late an order is and how old a fix is are worked out here from fixed
 * moments and the server's clock, so they move on between answers.
 *
 * No visible text lives here: it comes from #s-strings (translated by the server) or the
 * JSON, always set as text, never as HTML.
 */
(() => {
  "use strict";

  const root = document.getElementById("s-wall");
  if (!root) return;
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const $ = (id) => document.getElementById(id);
  const t = window.YunbaoPage.strings(json("s-strings"));
  const el = window.YunbaoPage.el;
  const STATUSES = json("s-statuses");
  const AREAS = json("s-areas");
  const cfg = root.dataset;
  const POLL_MS = (parseInt(cfg.poll, 10) || 30) * 1000;
  const STALE_MS = (parseInt(cfg.staleAfter, 10) || 900) * 1000;
  const LANG = document.documentElement.lang || undefined;
  const DEFAULT_CENTRE = [23.13, 113.26];
  const COLOURS = { submitted: "#f0c040", accepted: "#4da3ff", dispatched: "#2ec4b6", in_progress: "#2ec4b6", handled: "#b388ff", suspended: "#8ea0b8" };
  const LATE = "#ff5c5c";
  const BAD_KPIS = { overdue: (v) => v > 0, rework_rate: (v) => v > 20 };

  function formatter(options) {
    try {
      return new Intl.DateTimeFormat(LANG, Object.assign({ timeZone: cfg.timeZone, hour12: false }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(LANG, Object.assign({ hour12: false }, options));
    }
  }
  const CLOCK = formatter({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const TIME = formatter({ hour: "2-digit", minute: "2-digit" });

  const state = { version: "", data: null, offset: 0, timer: null };
  const now = () => Date.now() + state.offset;

  function span(ms) {
    const minutes = Math.max(0, Math.floor(ms / 60000));
    if (minutes < 60) return t("minutes", { n: minutes });
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return t("hours", { n: hours });
    return t("days", { n: Math.floor(hours / 24) });
  }

  // --- Tiles and lists ------------------------------------------------------------------

  function drawKpis(kpis) {
    $("s-kpis").replaceChildren.apply($("s-kpis"), kpis.map((k) => {
      const bad = BAD_KPIS[k.key] && BAD_KPIS[k.key](parseFloat(k.value));
      return el("div", { class: "s-kpi" + (bad ? " alarm" : ""), "data-kpi": k.key },
        el("b", { text: k.value }), el("span", { text: k.label, title: k.label }),
        k.sub ? el("small", { text: k.sub }) : null);
    }));
  }

  function list(id, rows, empty, row) {
    const box = $(id);
    box.replaceChildren.apply(box, rows.length ? rows.map(row) : [el("li", null, el("span", { class: "empty", text: empty }))]);
    $(id + "-n").textContent = String(rows.length);
  }

  function drawLists(data) {
    list("s-overdue", data.overdue, t("noOverdue"), (o) => el("li", { "data-number": o.number },
      el("a", { href: o.url, text: o.number }),
      el("span", { class: "s-what", text: [STATUSES[o.status], o.category, o.where, o.unit].filter(Boolean).join(" · ") }),
      el("span", { class: "s-late-by", text: t("late", { time: span(now() - new Date(o.due).getTime()) }) })));
    list("s-alarms", data.alarms, t("noAlarms"), (a) => el("li", null,
      el("a", { href: a.url, text: a.number }),
      el("span", { class: "s-what lv-" + a.level, text: a.label + " · " + a.stage }),
      el("span", { class: "s-what", text: TIME.format(new Date(a.at)) })));
  }

  // --- The map ----------------------------------------------------------------------------

  let map = null;
  let layers = null;
  let fitted = false;

  function initMap() {
    map = window.YunbaoPage.baseMap($("s-map"), {
      tileUrl: cfg.tileUrl,
      areas: AREAS,
      unavailable: t("mapUnavailable"),
      view: (m, areas) => window.YunbaoPage.fitAreas(m, areas, DEFAULT_CENTRE, 12),
    });
    if (!map) return;
    // The view starts over the areas; the first answer with anything to show zooms to it
    // (a district is kilometres wide, a hot spot a few hundred metres).
    layers = { heat: L.layerGroup().addTo(map), orders: L.layerGroup().addTo(map), devices: L.layerGroup().addTo(map) };
  }

  function drawMap(data) {
    if (!map) return;
    layers.heat.clearLayers();
    const most = data.heat.reduce((m, c) => Math.max(m, c.n), 1);
    data.heat.forEach((c) => {
      const share = c.n / most;
      L.polygon(c.outline, { stroke: false, fillColor: share > 0.5 ? "#ff3c3c" : "#ffaa00", fillOpacity: 0.15 + 0.55 * share, interactive: true })
        .bindTooltip(t("reports", { n: c.n }))
        .addTo(layers.heat);
    });
    layers.orders.clearLayers();
    data.orders.forEach((o) => {
      const [number, status, lat, lon, late] = o;
      L.circleMarker([lat, lon], { radius: late ? 7 : 5, weight: late ? 2 : 1, color: late ? "#fff" : "#0b1220", fillColor: late ? LATE : (COLOURS[status] || "#ccc"), fillOpacity: 0.95 })
        .bindTooltip(number + " · " + (STATUSES[status] || status))
        .addTo(layers.orders);
    });
    layers.devices.clearLayers();
    data.devices.forEach((d) => {
      const age = now() - new Date(d.seen).getTime();
      const stale = age > STALE_MS;
      const icon = L.divIcon({ className: "s-icon " + (d.kind === "vehicle" ? "vehicle" : "badge") + (stale ? " stale" : ""), html: "<span></span>", iconSize: [18, 18], iconAnchor: [9, 9] });
      const who = d.kind === "vehicle" ? t("vehicle") : t("badge");
      L.marker([d.lat, d.lon], { icon: icon, keyboard: false, title: d.label })
        .bindTooltip([d.label, who, d.unit, t("seen", { time: TIME.format(new Date(d.seen)) })].filter(Boolean).join(" · "))
        .addTo(layers.devices);
    });
    if (!fitted) {
      const points = data.orders.map((o) => [o[2], o[3]])
        .concat(data.devices.map((d) => [d.lat, d.lon]))
        .concat(data.heat.reduce((all, c) => all.concat(c.outline), []));
      if (points.length) {
        map.fitBounds(L.latLngBounds(points), { padding: [30, 30], maxZoom: 16 });
        fitted = true;
      }
    }
  }

  // --- Polling ------------------------------------------------------------------------------

  function status(text, trouble) {
    const line = $("s-status");
    line.textContent = text;
    line.classList.toggle("trouble", Boolean(trouble));
  }

  function render() {
    const data = state.data;
    drawKpis(data.kpis);
    drawLists(data);
    drawMap(data);
    status(t("updated", { time: TIME.format(new Date(now())) }));
  }

  function apply(data) {
    state.offset = new Date(data.now).getTime() - Date.now();
    state.version = data.version;
    state.data = data;
    render();
  }

  async function refresh() {
    clearTimeout(state.timer);
    try {
      const headers = { Accept: "application/json" };
      if (state.version) headers["If-None-Match"] = '"' + state.version + '"';
      const response = await fetch(cfg.jsonUrl, { headers: headers, credentials: "same-origin", cache: "no-store" });
      const type = response.headers.get("Content-Type") || "";
      if (response.status === 304) {
        render(); // lateness and ages move on
      } else if (!response.ok || type.indexOf("json") < 0) {
        status(t("sessionEnded"), true);
        return; // logged out or no longer allowed: every further answer would be the same
      } else {
        apply(await response.json());
      }
    } catch (error) {
      status(t("offline"), true);
    }
    // A wall display is never "in the background" for long: poll regardless of visibility.
    state.timer = setTimeout(refresh, POLL_MS);
  }

  function tick() {
    $("s-clock").textContent = CLOCK.format(new Date(now()));
  }

  initMap();
  apply(json("s-initial"));
  tick();
  setInterval(tick, 1000);
  state.timer = setTimeout(refresh, POLL_MS);
  window.YunbaoScreen = { refresh: refresh, state: state };
})();

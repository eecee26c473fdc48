/* The dispatcher's console (人工筛选): live queue, map and order panel.
 *
 * The queue polls queue.json every few seconds with the last version in If-None-Match, so
 * an unchanged queue costs a 304; orders that were not there before are highlighted. The
 * panel is HTML rendered by the server (console_panel.html); its forms are posted with
 * fetch and answered with the refreshed panel. Shortcuts never fire while typing.
 *
 * No visible text lives here: it comes from the template's translated dictionary
 * (#console-strings), from the labels in the JSON, or from the server's panel. Data from
 * the server goes into the page as text only (textContent), never as HTML.
 */
(() => {
  "use strict";

  const root = document.getElementById("console");
  if (!root) return;

  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const STRINGS = json("console-strings");
  const AREAS = json("console-areas");
  const cfg = root.dataset;
  const POLL_MS = (parseInt(cfg.poll, 10) || 5) * 1000;
  // A fix older than this is greyed on the map (FLEET_POSITION_MAX_AGE_MINUTES).
  const STALE_MS = (parseInt(cfg.staleAfter, 10) || 900) * 1000;
  const FRESH_MS = 20000; // how long a new order stays highlighted
  const DEFAULT_CENTRE = [23.13, 113.26];
  const LANG = document.documentElement.lang || undefined;
  const COLOURS = { submitted: "#d99a00", accepted: "#0b6bcb", returned: "#7b3fc4", overdue: "#c62828", fresh: "#ffb300" };

  const $ = (id) => document.getElementById(id);
  const list = $("c-list");
  const panel = $("c-panel");
  const filters = $("c-filters");
  const search = $("c-search");
  const statusLine = $("c-status");
  const bulkForm = $("c-bulk");
  const selectAll = $("c-all");
  const help = $("c-help");

  // Shared with the other pages: yunbao/web/static/yunbao/page.js.
  const t = window.YunbaoPage.strings(STRINGS);
  const el = window.YunbaoPage.el;

  /** The singular or plural message: both shipped languages have at most two forms. */
  function tn(key, n, values) {
    return t(key + (n === 1 ? "1" : "N"), Object.assign({ n: n }, values || {}));
  }

  const state = {
    version: "",
    orders: [],
    workers: [],
    vehicles: [],
    total: 0,
    limit: 0,
    known: null, // numbers in the last answer; null: do not highlight (first load, new filters)
    fresh: new Map(), // number → time the highlight ends
    selected: new Set(),
    current: null,
    offset: 0, // server clock minus ours, so ages do not depend on this PC's clock
    timer: null,
    busy: false,
    again: false,
    panelToken: 0,
    fitted: false,
  };

  // --- Time ---------------------------------------------------------------------------

  function formatter(options) {
    try {
      return new Intl.DateTimeFormat(LANG, Object.assign({ timeZone: cfg.timeZone, hour12: false }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(LANG, Object.assign({ hour12: false }, options));
    }
  }
  const TIME = formatter({ hour: "2-digit", minute: "2-digit" });
  const DAY_TIME = formatter({ month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  const DAY = formatter({ year: "numeric", month: "2-digit", day: "2-digit" });

  const now = () => Date.now() + state.offset;

  function duration(ms) {
    const minutes = Math.max(0, Math.floor(ms / 60000));
    if (minutes < 60) return t("minutes", { n: minutes });
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return t("hours", { n: hours });
    return t("days", { n: Math.floor(hours / 24) });
  }

  function clock(iso) {
    const date = new Date(iso);
    const sameDay = DAY.format(date) === DAY.format(new Date(now()));
    return (sameDay ? TIME : DAY_TIME).format(date);
  }

  const isOverdue = (o) => Boolean(o.due) && new Date(o.due).getTime() < now();

  /** The time-limit badge (as `{% sla_badge %}` draws it): the row carries fixed moments
   * (deadline, warning point, paused), so the level changes here as time passes without
   * changing the queue's version. */
  function slaBadge(o) {
    const c = o.sla;
    if (!c) return null;
    const left = new Date(c.due).getTime() - now();
    let level = "ok";
    let text;
    if (c.paused) {
      level = "paused";
      text = t("slaPaused");
    } else if (left < 0) {
      level = "overdue";
      text = t("slaOverdue", { age: duration(-left) });
    } else if (c.warn_at && new Date(c.warn_at).getTime() <= now()) {
      level = "due_soon";
      text = t("slaDueSoon", { age: duration(left) });
    } else {
      text = t("slaLeft", { age: duration(left) });
    }
    return el("span", { class: "c-due sla-badge sla-" + level, "data-sla": level, title: t("due", { time: clock(c.due) }), text: text });
  }

  // --- The queue ----------------------------------------------------------------------

  function query() {
    const params = new URLSearchParams();
    new FormData(filters).forEach((value, name) => {
      if (value) params.set(name, value);
    });
    return params;
  }

  function setStatus(text, kind) {
    statusLine.textContent = text || "";
    statusLine.className = "c-status" + (kind ? " " + kind : "");
  }

  /** Connection trouble is reported in the status line and cleared once answers come again;
   * other messages (new orders, bulk results) stay until the next one. */
  function connectionTrouble(text, kind) {
    setStatus(text, kind + " trouble");
  }

  function connectionFine() {
    if (statusLine.classList.contains("trouble")) setStatus("");
  }

  /** A hint about the last key pressed ("press m again" …), gone at the next step. */
  function hint(text) {
    setStatus(text, "warn hint");
  }

  function clearHint() {
    if (statusLine.classList.contains("hint")) setStatus("");
  }

  function schedule() {
    clearTimeout(state.timer);
    // A tab in the background does not poll; it asks at once when it is looked at again,
    // and what arrived meanwhile is highlighted then.
    if (!document.hidden) state.timer = setTimeout(() => refresh(false), POLL_MS);
  }

  /** Ask for the queue; `force` skips If-None-Match (after a move, or new filters). */
  async function refresh(force) {
    if (state.busy) {
      state.again = state.again || force || "poll";
      return;
    }
    state.busy = true;
    clearTimeout(state.timer);
    try {
      const headers = { Accept: "application/json" };
      if (state.version && !force) headers["If-None-Match"] = '"' + state.version + '"';
      const response = await fetch(cfg.queueUrl + "?" + query().toString(), {
        headers: headers,
        credentials: "same-origin",
        cache: "no-store",
      });
      const type = response.headers.get("Content-Type") || "";
      if (response.status === 304) {
        connectionFine();
        renderQueue(); // ages and deadlines move on with the clock
      } else if (response.status === 400 && type.indexOf("json") >= 0) {
        connectionTrouble(t("badFilter"), "error");
      } else if (!response.ok || type.indexOf("json") < 0) {
        // Logged out (the login page came back) or no longer allowed.
        connectionTrouble(t("sessionEnded"), "error");
        return; // stop polling: every further answer would be the same
      } else {
        connectionFine();
        apply(await response.json());
      }
    } catch (error) {
      connectionTrouble(t("offline"), "warn");
    } finally {
      state.busy = false;
    }
    if (state.again) {
      const again = state.again;
      state.again = false;
      refresh(again === true);
    } else {
      schedule();
    }
  }

  function apply(data) {
    state.offset = new Date(data.now).getTime() - Date.now();
    state.version = data.version;
    state.total = data.total;
    state.limit = data.limit;
    state.workers = data.workers || [];
    state.vehicles = data.vehicles || [];
    const numbers = new Set(data.orders.map((o) => o.number));
    if (state.known) {
      const arrived = data.orders.filter((o) => !state.known.has(o.number)).map((o) => o.number);
      arrived.forEach((number) => state.fresh.set(number, Date.now() + FRESH_MS));
      if (arrived.length) setStatus(t("newOrders", { numbers: arrived.join(", ") }), "new");
    }
    state.known = numbers;
    state.selected.forEach((number) => {
      if (!numbers.has(number)) state.selected.delete(number);
    });
    state.orders = data.orders;
    renderQueue();
    drawMap();
  }

  function matches(o, words) {
    if (!words.length) return true;
    const text = [o.number, o.summary, o.category, o.area, o.scene, o.status_label,
      o.suggestion && o.suggestion.unit, o.suggestion && o.suggestion.worker]
      .filter(Boolean).join(" ").toLowerCase();
    return words.every((word) => text.indexOf(word) >= 0);
  }

  function shownOrders() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    return state.orders.filter((o) => matches(o, words));
  }

  function badge(className, text, title) {
    return el("span", { class: className, title: title || null, text: text });
  }

  function row(o) {
    const fresh = state.fresh.get(o.number);
    const overdue = isOverdue(o);
    const classes = ["c-item"];
    if (o.number === state.current) classes.push("current");
    if (fresh && fresh > Date.now()) classes.push("fresh");
    if (o.urgent) classes.push("urgent");
    if (o.returned) classes.push("is-returned");
    if (state.selected.has(o.number)) classes.push("selected");

    const check = el("input", {
      type: "checkbox",
      class: "c-check",
      "aria-label": t("select", { number: o.number }),
      onchange: (event) => {
        if (event.target.checked) state.selected.add(o.number);
        else state.selected.delete(o.number);
        renderQueue();
      },
    });
    check.checked = state.selected.has(o.number);

    const age = duration(now() - new Date(o.created).getTime());
    const top = el("div", { class: "c-line" },
      el("b", { class: "c-number", text: o.number }),
      badge("status s-" + o.status, o.status_label),
      o.urgent ? badge("tag urgent", o.urgency_label) : null,
      o.returned ? badge("tag returned", t("returned")) : null,
      o.duplicates ? badge("tag dup", t("duplicates"), tn("duplicatesTitle", o.duplicates)) : null,
      o.me_too ? badge("tag metoo", t("meToo", { n: o.me_too }), tn("meTooTitle", o.me_too)) : null);

    const what = el("div", { class: "c-line" },
      o.category ? el("span", { class: "c-cat", text: o.category })
        : el("span", { class: "c-cat unknown", text: t("unrecognised") }),
      o.area ? el("span", { class: "c-where", text: o.area }) : null,
      o.photos ? el("span", { class: "c-photos", text: tn("photos", o.photos) }) : null,
      el("span", { class: "c-age", text: age, title: t("age", { age: age }) }));

    const s = o.suggestion;
    let suggestion;
    if (s) {
      const target = [s.unit || t("noUnit"), s.worker].filter(Boolean).join(" · ");
      suggestion = el("span", { class: "c-suggestion" },
        t("suggested", { target: target }),
        s.category && s.category !== o.category
          ? el("span", { class: "c-guess", text: t("machineCategory", { category: s.category }) }) : null,
        el("span", { class: "c-conf", text: t("confidence", { p: Math.round(s.confidence * 100) }) }));
    } else {
      suggestion = el("span", { class: "c-suggestion none", text: t("noSuggestion") });
    }
    const due = slaBadge(o) || (o.due
      ? el("span", { class: "c-due" + (overdue ? " overdue" : "") },
        overdue ? t("overdue", { age: duration(now() - new Date(o.due).getTime()) }) : t("due", { time: clock(o.due) }))
      : null);
    const machine = el("div", { class: "c-line" }, suggestion, due);

    const summary = o.summary ? el("div", { class: "c-summary", text: o.summary }) : null;
    const returned = o.returned
      ? el("div", { class: "c-returned", text: t("returnedBy", { unit: o.returned.unit || o.returned.by, reason: o.returned.reason }) })
      : null;
    const why = s && s.fallbacks && s.fallbacks.length
      ? el("div", { class: "c-why", title: s.fallbacks.join("\n"), text: s.fallbacks.join(" ") })
      : null;

    const link = el("a", {
      href: o.page,
      class: "c-open",
      "data-number": o.number,
      onclick: (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button) return; // a new tab
        event.preventDefault();
        open(o.number);
      },
    }, top, what, summary, returned, machine, why);

    return el("li", { class: classes.join(" "), "data-number": o.number }, check, link);
  }

  function renderQueue() {
    const shown = shownOrders();
    // Keep the keyboard focus on the same order across a redraw.
    const focused = document.activeElement && list.contains(document.activeElement)
      ? [document.activeElement.closest("li") && document.activeElement.closest("li").dataset.number,
        document.activeElement.className]
      : null;
    const items = shown.map(row);
    list.replaceChildren.apply(list, items);
    if (!shown.length) {
      list.appendChild(el("li", { class: "c-none", text: state.orders.length ? t("noMatch") : t("empty") }));
    }
    if (focused && focused[0]) {
      const again = list.querySelector('li[data-number="' + CSS.escape(focused[0]) + '"] .' + focused[1].split(" ")[0]);
      if (again) again.focus();
    }
    $("c-count").textContent = state.total > state.orders.length
      ? t("countLimited", { shown: state.orders.length, total: state.total })
      : t("count", { n: state.total });
    renderBulk(shown);
  }

  function renderBulk(shown) {
    const n = state.selected.size;
    $("c-selected").textContent = n ? t("selected", { n: n }) : t("selectAll");
    selectAll.checked = n > 0 && shown.every((o) => state.selected.has(o.number));
    selectAll.indeterminate = n > 0 && !selectAll.checked;
    bulkForm.querySelectorAll("button, input[type=text]").forEach((control) => {
      control.disabled = n === 0;
    });
    bulkForm.classList.toggle("active", n > 0);
  }

  // Refresh ages and drop expired highlights between polls.
  setInterval(() => {
    const moment = Date.now();
    state.fresh.forEach((until, number) => {
      if (until <= moment) state.fresh.delete(number);
    });
    if (!list.contains(document.activeElement)) renderQueue();
    drawMap();
  }, 30000);

  // --- The map ------------------------------------------------------------------------

  let map = null;
  let orderLayer = null;
  let workerLayer = null;
  const markers = new Map();

  function initMap() {
    map = window.YunbaoPage.baseMap($("c-map"), {
      tileUrl: cfg.tileUrl,
      areas: AREAS,
      unavailable: t("mapUnavailable"),
      view: (m, areas) => {
        state.fitted = window.YunbaoPage.fitAreas(m, areas, DEFAULT_CENTRE, 13);
      },
    });
    if (!map) return;
    workerLayer = L.layerGroup().addTo(map);
    orderLayer = L.layerGroup().addTo(map);
  }

  /** Points at the same spot are spread on a small circle so each can be clicked. */
  function spread(items, radius) {
    const groups = new Map();
    items.forEach((item) => {
      // About 10 m: closer than that, markers would hide each other at street zoom.
      const key = item.lat.toFixed(4) + "," + item.lon.toFixed(4);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(item);
    });
    const placed = new Map();
    groups.forEach((group) => {
      group.forEach((item, i) => {
        if (group.length === 1) {
          placed.set(item, [item.lat, item.lon]);
          return;
        }
        const angle = (2 * Math.PI * i) / group.length;
        placed.set(item, [item.lat + radius * Math.sin(angle), item.lon + radius * Math.cos(angle) * 1.1]);
      });
    });
    return placed;
  }

  function orderStyle(o) {
    const current = o.number === state.current;
    const overdue = isOverdue(o);
    const fresh = (state.fresh.get(o.number) || 0) > Date.now();
    let fill = o.status === "submitted" ? COLOURS.submitted : COLOURS.accepted;
    if (o.returned) fill = COLOURS.returned;
    return {
      radius: (o.urgent ? 9 : 7) + (current ? 3 : 0),
      color: current ? "#1d2733" : overdue ? COLOURS.overdue : fresh ? COLOURS.fresh : "#ffffff",
      weight: current || overdue || fresh ? 3 : 2,
      fillColor: fill,
      fillOpacity: 0.9,
    };
  }

  const VEHICLE_ICON = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">' +
    '<rect x="1" y="1" width="22" height="22" rx="5" fill="#8a4b08" stroke="#fff" stroke-width="2"/>' +
    '<path d="M4 7.5h9.5v7.5H4zM13.5 10h3.6l2.9 3v2h-6.5z" fill="#fff"/>' +
    '<circle cx="7.5" cy="16.6" r="1.9" fill="#fff"/><circle cx="16.5" cy="16.6" r="1.9" fill="#fff"/></svg>';

  /** How long ago a worker or vehicle last reported, and whether that is too long. */
  function seen(iso) {
    if (!iso) return { stale: false, text: t("areaCentre") };
    const age = now() - new Date(iso).getTime();
    return { stale: age > STALE_MS, text: t("seen", { age: duration(age) }) };
  }

  /** A tooltip or popup body made of text lines (never HTML from the data). */
  function lines(texts, link) {
    const box = el("div", null);
    texts.filter(Boolean).forEach((text, i) => {
      box.appendChild(el("p", { class: "c-popup-line" + (i ? " muted" : ""), text: text }));
    });
    if (link) box.appendChild(el("p", { class: "c-popup-line" }, el("a", { href: link, target: "_blank", rel: "noopener", text: t("track") })));
    return box;
  }

  function liveMarker(item, at, html, className, texts) {
    const when = seen(item.seen);
    const icon = L.divIcon({ className: className + (when.stale ? " stale" : ""), html: html, iconSize: [22, 22], iconAnchor: [11, 11] });
    const marker = L.marker(at, { icon: icon, keyboard: false, zIndexOffset: when.stale ? -200 : -100 });
    const body = texts.concat([when.text]);
    marker.bindTooltip(lines(body), { direction: "top" });
    if (item.track) marker.bindPopup(lines(body, item.track));
    return marker;
  }

  const WORKER_ICON = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">' +
    '<rect x="1" y="1" width="22" height="22" rx="5" fill="#1a7f37" stroke="#fff" stroke-width="2"/>' +
    '<circle cx="12" cy="8.5" r="3.2" fill="#fff"/><path d="M5.5 19c.8-3.6 3.4-5.4 6.5-5.4s5.7 1.8 6.5 5.4z" fill="#fff"/></svg>';

  function drawMap() {
    if (!map) return;
    orderLayer.clearLayers();
    workerLayer.clearLayers();
    markers.clear();
    const shown = shownOrders();
    const at = spread(shown, 0.00012);
    shown.forEach((o) => {
      const marker = L.circleMarker(at.get(o), orderStyle(o))
        .bindTooltip(o.number + (o.category ? " · " + o.category : ""), { direction: "top" })
        .on("click", () => open(o.number));
      marker.addTo(orderLayer);
      markers.set(o.number, marker);
    });
    const placed = spread(state.workers.concat(state.vehicles), 0.0003);
    state.workers.forEach((w) => {
      liveMarker(w, placed.get(w), WORKER_ICON, "c-worker-icon", [tn("worker", w.tasks, { name: w.name, unit: w.unit })])
        .addTo(workerLayer);
    });
    state.vehicles.forEach((v) => {
      const speed = v.speed === null || v.speed === undefined ? "" : t("speed", { n: Math.round(v.speed) });
      liveMarker(v, placed.get(v), VEHICLE_ICON, "c-worker-icon", [[v.label, v.type].filter(Boolean).join(" · "), [v.unit, speed].filter(Boolean).join(" · ")])
        .addTo(workerLayer);
    });
    const current = markers.get(state.current);
    if (current) current.bringToFront();
    if (!state.fitted && shown.length) {
      map.fitBounds(L.latLngBounds(shown.map((o) => [o.lat, o.lon])), { padding: [30, 30], maxZoom: 16 });
      state.fitted = true;
    }
  }

  // --- The order panel ----------------------------------------------------------------

  function panelUrl(number) {
    return cfg.panelUrl.replace("ORDER", encodeURIComponent(number));
  }

  function markCurrent() {
    list.querySelectorAll("li.current").forEach((li) => li.classList.remove("current"));
    const li = state.current && list.querySelector('li[data-number="' + CSS.escape(state.current) + '"]');
    if (li) {
      li.classList.add("current");
      li.scrollIntoView({ block: "nearest" });
    }
    markers.forEach((marker, number) => {
      const o = state.orders.find((item) => item.number === number);
      if (o) marker.setStyle(orderStyle(o));
    });
    const marker = markers.get(state.current);
    if (marker && map) {
      marker.bringToFront();
      if (!map.getBounds().contains(marker.getLatLng())) map.panTo(marker.getLatLng());
    }
  }

  async function open(number) {
    clearHint();
    state.current = number;
    const token = ++state.panelToken;
    markCurrent();
    history.replaceState(null, "", "?" + query().toString() + "#" + encodeURIComponent(number));
    panel.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(panelUrl(number), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
      if (token !== state.panelToken) return; // another order was chosen meanwhile
      if (response.redirected) {
        showPanelError(t("sessionEnded")); // sent to the login page
        return;
      }
      if (!response.ok) {
        showPanelError(t("loadFailed", { detail: response.status }));
        return;
      }
      showPanel(await response.text());
    } catch (error) {
      if (token === state.panelToken) showPanelError(t("loadFailed", { detail: error.message }));
    } finally {
      if (token === state.panelToken) panel.removeAttribute("aria-busy");
    }
  }

  function showPanelError(text) {
    panel.replaceChildren(el("p", { class: "message error", role: "alert", text: text }));
  }

  /** Put the server's panel in place (its HTML is rendered and escaped by Django). */
  function showPanel(html) {
    panel.innerHTML = html;
    panel.scrollTop = 0;
    panel.querySelectorAll("form[data-action=dispatch]").forEach(linkWorkersToUnit);
  }

  /** The worker select of the dispatch form lists only the chosen unit's workers. */
  function linkWorkersToUnit(form) {
    const unit = form.querySelector("select[name=unit]");
    const worker = form.querySelector("select[name=worker]");
    if (!unit || !worker) return;
    const groups = Array.from(worker.querySelectorAll("optgroup")).map((group) => group.cloneNode(true));
    const empty = worker.options[0].cloneNode(true);
    function sync() {
      const chosen = worker.value;
      const group = groups.find((g) => g.dataset.unit === unit.value);
      worker.replaceChildren(empty.cloneNode(true));
      if (group) worker.appendChild(group.cloneNode(true));
      worker.value = chosen;
      if (worker.value !== chosen) worker.value = "";
    }
    unit.addEventListener("change", sync);
    sync();
  }

  panel.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open]");
    if (opener) open(opener.dataset.open);
  });

  panel.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.cp-form");
    if (!form) return;
    event.preventDefault();
    clearHint();
    const token = ++state.panelToken;
    form.querySelectorAll("button").forEach((button) => {
      button.disabled = true;
    });
    panel.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      });
      const type = response.headers.get("Content-Type") || "";
      if (token !== state.panelToken) return;
      // 200: done; 400: refused, with the reason in the panel. Anything else is not a panel.
      if (response.redirected) {
        showPanelError(t("sessionEnded"));
      } else if ((response.status === 200 || response.status === 400) && type.indexOf("text/html") >= 0) {
        showPanel(await response.text());
      } else {
        showPanelError(t("loadFailed", { detail: response.status }));
      }
    } catch (error) {
      if (token === state.panelToken) showPanelError(t("loadFailed", { detail: error.message }));
    } finally {
      if (token === state.panelToken) panel.removeAttribute("aria-busy");
      refresh(true);
    }
  });

  // --- Bulk actions -------------------------------------------------------------------

  selectAll.addEventListener("change", () => {
    const shown = shownOrders();
    if (selectAll.checked) shown.forEach((o) => state.selected.add(o.number));
    else state.selected.clear();
    renderQueue();
  });

  let lastBulkButton = null;
  bulkForm.addEventListener("click", (event) => {
    const button = event.target.closest("button[name=action]");
    if (button) lastBulkButton = button;
  });

  bulkForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || lastBulkButton;
    const action = button ? button.value : "";
    const reason = $("c-bulk-reason");
    if (!action || !state.selected.size) return;
    if (action === "reject" && !reason.value.trim()) {
      reason.focus();
      setStatus(t("reasonRequired"), "error");
      return;
    }
    const body = new FormData(bulkForm);
    body.set("action", action);
    if (action !== "reject") body.delete("note");
    state.selected.forEach((number) => body.append("numbers", number));
    try {
      const response = await fetch(bulkForm.action, { method: "POST", body: body, credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) {
        setStatus(data.error || t("bulkFailed", { detail: response.status }), "error");
        return;
      }
      const failures = data.results.filter((r) => !r.ok);
      data.results.forEach((r) => {
        if (r.ok) state.selected.delete(r.number);
      });
      if (!failures.length) reason.value = "";
      statusLine.replaceChildren(
        el("p", { text: t("bulkDone", { ok: data.ok, failed: data.failed }) }),
        failures.length ? el("ul", null, ...failures.map((r) => el("li", { text: t("bulkFailure", r) }))) : null);
      statusLine.className = "c-status " + (failures.length ? "error" : "ok");
      if (state.current && data.results.some((r) => r.number === state.current)) open(state.current);
    } catch (error) {
      setStatus(t("bulkFailed", { detail: error.message }), "error");
    }
    refresh(true);
  });

  // --- Filters --------------------------------------------------------------------------

  filters.addEventListener("change", (event) => {
    if (event.target === search) return;
    state.known = null; // a new selection is not "new orders"
    state.version = "";
    history.replaceState(null, "", "?" + query().toString() + (state.current ? "#" + encodeURIComponent(state.current) : ""));
    refresh(true);
  });
  filters.addEventListener("submit", (event) => event.preventDefault());
  search.addEventListener("input", () => {
    renderQueue();
    drawMap();
  });

  // --- Keyboard -----------------------------------------------------------------------

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    const tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && ["checkbox", "radio", "button", "submit", "reset"].indexOf(target.type) < 0;
  }

  function step(delta) {
    const shown = shownOrders();
    if (!shown.length) return;
    const index = shown.findIndex((o) => o.number === state.current);
    const next = index < 0 ? (delta > 0 ? 0 : shown.length - 1) : Math.min(shown.length - 1, Math.max(0, index + delta));
    open(shown[next].number);
  }

  function panelForm(action) {
    const article = panel.querySelector("article.cp");
    if (!article || article.dataset.number !== state.current) {
      hint(t("chooseOrder"));
      return null;
    }
    const form = panel.querySelector('form[data-action="' + action + '"]');
    if (!form) hint(t("notAvailable"));
    return form;
  }

  function submitPanel(action) {
    const form = panelForm(action);
    if (form) form.requestSubmit();
  }

  function mergeTop() {
    const article = panel.querySelector("article.cp");
    if (!article || article.dataset.number !== state.current) {
      hint(t("chooseOrder"));
      return;
    }
    const form = panel.querySelector("form[data-action=merge][data-top]");
    if (!form) {
      hint(t("noDuplicate"));
      return;
    }
    const button = form.querySelector("button");
    // Merging is final, so the first press shows the duplicate and the second merges.
    if (document.activeElement === button) {
      form.requestSubmit();
      return;
    }
    button.scrollIntoView({ block: "nearest" });
    button.focus();
    hint(t("mergeAgain", { number: form.querySelector("input[name=into]").value }));
  }

  function focusReject() {
    const form = panelForm("reject");
    if (!form) return;
    const reason = form.querySelector("textarea");
    reason.scrollIntoView({ block: "nearest" });
    reason.focus();
  }

  function toggleCurrent() {
    if (!state.current || !state.orders.some((o) => o.number === state.current)) {
      hint(t("chooseOrder"));
      return;
    }
    if (state.selected.has(state.current)) state.selected.delete(state.current);
    else state.selected.add(state.current);
    renderQueue();
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (help.open) return; // the dialog handles Esc itself
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    switch (event.key) {
      case "j": step(1); break;
      case "k": step(-1); break;
      case "a": submitPanel("accept"); break;
      case "d": submitPanel("suggested"); break;
      case "m": mergeTop(); break;
      case "r": focusReject(); break;
      case "x": toggleCurrent(); break;
      case "/": search.focus(); search.select(); break;
      case "?": help.showModal(); break;
      case "Escape":
        if (panel.contains(document.activeElement)) document.activeElement.blur();
        clearHint();
        return;
      default: return;
    }
    event.preventDefault();
  });

  // Enter in the reject reason sends it (Shift+Enter for a new line).
  panel.addEventListener("keydown", (event) => {
    const reason = event.target.closest && event.target.closest("form[data-action=reject] textarea");
    if (reason && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      reason.form.requestSubmit();
    }
  });

  $("c-help-open").addEventListener("click", () => help.showModal());
  help.addEventListener("keydown", (event) => {
    if (event.key === "?") help.close();
  });

  // --- Layout and start ---------------------------------------------------------------

  /** The console fills the window below the site's header, each column scrolling alone. */
  function fit() {
    root.style.setProperty("--c-top", Math.max(0, root.getBoundingClientRect().top + window.scrollY) + "px");
    if (map) map.invalidateSize();
  }
  window.addEventListener("resize", fit);
  fit();

  initMap();
  apply(json("console-initial"));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh(false);
  });
  schedule();
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted) open(wanted);
})();

/* The resident's report page (云报事).
 *
 * Photos are shrunk on the phone before they travel; the place comes from the phone's
 * location, a QR code's area or a pin moved by hand; the category from big buttons (or "not
 * sure"). A report is first written to IndexedDB under its idempotency key, then sent; if
 * the network or the server fails it stays there and is sent again on `online`, on the next
 * page load and on a timer (exponential backoff, at most 5 minutes apart). The key is made
 * once per report and reused on every attempt, so the server never makes two orders of it.
 *
 * No visible text lives here: every string comes from the template's translated dictionary
 * (#report-strings). Plain ES2017 (no optional chaining) for old phone browsers.
 */
(() => {
  "use strict";

  const form = document.getElementById("report-form");
  if (!form) return;

  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const STRINGS = json("report-strings");
  const CATALOG = json("catalog-data") || [];
  const cfg = form.dataset;
  const MAX_PHOTOS = parseInt(cfg.maxPhotos, 10) || 6;
  const INSPECTOR = cfg.inspector === "1";
  const LANG = document.documentElement.lang || undefined;
  const LONGEST_SIDE = 1600;
  const JPEG_QUALITY = 0.8;
  const EXIF_ORIGINAL_MAX = 5 * 1024 * 1024;
  const DEFAULT_CENTRE = [23.22, 113.27];
  const GEO_TIMEOUT = 10000;
  const BACKOFF_FIRST = 5000;
  const BACKOFF_MAX = 5 * 60 * 1000;
  const PHONE_RE = /^\+?[0-9][0-9 -]{4,19}$/;
  const STORE_KEYS = { scene: "yunbao.report.scene", category: "yunbao.report.category" };

  // Shared with the other pages: yunbao/web/static/yunbao/page.js.
  const t = window.YunbaoPage.strings(STRINGS);
  const el = window.YunbaoPage.el;

  const $ = (id) => document.getElementById(id);

  function newKey() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    // randomUUID needs a secure context (https); random hex is just as good a key.
    const bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
  }

  function formatTime(value) {
    const date = new Date(value);
    if (isNaN(date.getTime())) return "";
    try {
      return date.toLocaleString(LANG, {
        month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
      });
    } catch (e) {
      return date.toLocaleString();
    }
  }

  function csrfToken() {
    // The cookie is always current (it changes at login); the form's token is the fallback.
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = form.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // --- where the page was opened from (QR poster) -------------------------------------------

  const params = new URLSearchParams(location.search);
  const urlArea = params.get("area") || "";
  const urlUnit = params.get("unit") || "";
  // The service worker may answer offline with a copy of this page saved for another
  // address; trust the server's area only when the copy was made for this very address.
  const sameAddress = cfg.path === location.pathname + location.search;
  const bound = sameAddress ? json("bound-area") : null;
  const areaCode = bound ? bound.code : sameAddress ? "" : urlArea;
  const unitCode = bound ? bound.unit || "" : sameAddress ? "" : urlUnit;
  if (!sameAddress) {
    // What the saved copy says about its own QR code does not apply here.
    document.querySelectorAll(".bound-area, .unknown-area").forEach((node) => { node.hidden = true; });
  }

  // --- state ----------------------------------------------------------------------------------

  const state = {
    key: newKey(),
    photos: [], // {original: File, blob: Blob|null, url: string|null, ready: Promise}
    loc: { lat: null, lon: null, source: null, accuracy: null },
    geoFailed: false,
    geo: Promise.resolve(),
    category: "",
    scene: CATALOG.length ? CATALOG[0].code : "",
    sending: false,
    inFlight: "",
  };
  let photoChain = Promise.resolve();

  // --- field errors -------------------------------------------------------------------------

  const FIELD_ALIASES = { lon: "lat", location_source: "lat", crs: "lat", area: "lat", unit: "lat", key: "" };

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
    const box = $("form-error");
    box.hidden = true;
    box.textContent = "";
  }

  function showError(field, message) {
    const name = Object.prototype.hasOwnProperty.call(FIELD_ALIASES, field) ? FIELD_ALIASES[field] : field;
    const slot = name ? form.querySelector('[data-error-for="' + name + '"]') : null;
    if (slot) {
      slot.textContent = message;
      const section = slot.closest("section");
      if (section) section.scrollIntoView({ behavior: "smooth", block: "start" });
      return;
    }
    const box = $("form-error");
    box.textContent = message;
    box.hidden = false;
  }

  // --- photos ---------------------------------------------------------------------------------

  // Shared with the other photo page: yunbao/web/static/yunbao/photos.js.
  const shrink = (file) => window.YunbaoPhotos.shrink(file, LONGEST_SIDE, JPEG_QUALITY);

  function addPhotos(fileList) {
    const errorSlot = form.querySelector('[data-error-for="photos"]');
    errorSlot.textContent = "";
    let files = Array.prototype.slice.call(fileList || []);
    const notPhotos = files.filter((f) => f.type && f.type.indexOf("image/") !== 0);
    files = files.filter((f) => notPhotos.indexOf(f) < 0);
    if (notPhotos.length) errorSlot.textContent = t("notAPhoto");
    const room = MAX_PHOTOS - state.photos.length;
    if (files.length > room) {
      errorSlot.textContent = t("photoLimit", { n: MAX_PHOTOS });
      files = files.slice(0, Math.max(0, room));
    }
    files.forEach((file) => {
      const photo = { original: file, blob: null, url: null };
      // One photo at a time: a cheap phone cannot hold several decoded 12-megapixel images.
      photo.ready = photoChain = photoChain
        .then(() => shrink(file))
        .then((blob) => { photo.blob = blob; }, () => { photo.blob = null; })
        .then(() => {
          if (state.photos.indexOf(photo) < 0) return;
          photo.url = URL.createObjectURL(photo.blob || photo.original);
          renderThumbs();
        });
      state.photos.push(photo);
    });
    renderThumbs();
  }

  function removePhoto(photo) {
    const i = state.photos.indexOf(photo);
    if (i >= 0) state.photos.splice(i, 1);
    if (photo.url) URL.revokeObjectURL(photo.url);
    renderThumbs();
  }

  function renderThumbs() {
    const list = $("thumbs");
    list.textContent = "";
    state.photos.forEach((photo) => {
      list.appendChild(el("li", { class: photo.url ? "thumb" : "thumb busy" },
        photo.url ? el("img", { src: photo.url, alt: "" }) : el("span", { class: "spinner", "aria-hidden": "true" }),
        el("button", {
          type: "button", class: "remove", "aria-label": t("removePhoto"), title: t("removePhoto"),
          onclick: () => removePhoto(photo),
        }, "×")));
    });
    const full = state.photos.length >= MAX_PHOTOS;
    form.querySelectorAll(".photo-buttons input").forEach((input) => { input.disabled = full; });
    form.querySelector(".photo-buttons").classList.toggle("full", full);
  }

  form.querySelectorAll(".photo-buttons input").forEach((input) => {
    input.addEventListener("change", () => {
      addPhotos(input.files);
      input.value = ""; // the same photo may be chosen again after removing it
    });
  });

  // --- location -------------------------------------------------------------------------------

  let map = null;
  let pin = null;
  let accuracyCircle = null;

  function setStatus(text, kind) {
    const status = $("loc-status");
    status.textContent = text;
    status.className = "loc-status" + (kind ? " loc-" + kind : "");
  }

  function showCoords() {
    const loc = state.loc;
    if (loc.lat === null) {
      $("loc-coords").textContent = "";
      return;
    }
    let text = loc.lat.toFixed(6) + ", " + loc.lon.toFixed(6);
    if (loc.accuracy) text += " (" + t("accuracy", { m: Math.round(loc.accuracy) }) + ")";
    $("loc-coords").textContent = text;
  }

  function setLocation(lat, lon, source, accuracy) {
    state.loc = { lat: lat, lon: lon, source: source, accuracy: accuracy || null };
    form.querySelector('[data-error-for="lat"]').textContent = "";
    if (pin) pin.setLatLng([lat, lon]);
    if (accuracyCircle) {
      accuracyCircle.remove();
      accuracyCircle = null;
    }
    if (map && accuracy && source === "gps") {
      accuracyCircle = L.circle([lat, lon], {
        radius: accuracy, weight: 1, color: "#0b6bcb", fillOpacity: 0.08, interactive: false,
      }).addTo(map);
    }
    if (source === "gps") setStatus(t("located", { m: Math.round(accuracy || 0) }), "ok");
    else if (source === "qr") setStatus(t("qrNote"), "note");
    else if (source === "map") setStatus(t("moved"), "ok");
    showCoords();
    scheduleNearby();
  }

  function movedByHand(latlng) {
    setLocation(latlng.lat, latlng.lng, "map", null);
  }

  function initMap(centre) {
    map = window.YunbaoPage.baseMap($("map"), {
      tileUrl: cfg.tileUrl,
      leaflet: { zoomSnap: 1, tap: false }, // whole zoom steps here (Leaflet's default)
      view: (m) => m.setView(centre, bound ? 17 : 16),
    });
    if (!map) {
      $("map").hidden = true;
      setStatus(t("mapUnavailable"), "warn");
      return;
    }
    const icon = L.divIcon({
      className: "report-pin",
      html: '<svg viewBox="0 0 32 44" width="40" height="55" aria-hidden="true">' +
        '<path d="M16 1C7.7 1 1 7.7 1 16c0 11 15 27 15 27s15-16 15-27C31 7.7 24.3 1 16 1z" ' +
        'fill="#c62828" stroke="#fff" stroke-width="2"/><circle cx="16" cy="16" r="6" fill="#fff"/></svg>',
      iconSize: [40, 55],
      iconAnchor: [20, 54],
    });
    pin = L.marker(centre, { draggable: true, icon: icon, title: t("pin"), alt: t("pin"), autoPan: true })
      .addTo(map);
    pin.on("dragend", () => movedByHand(pin.getLatLng()));
    map.on("click", (event) => movedByHand(event.latlng));
  }

  /** Ask the phone where it is; `fresh` when the person asks again (no cached position). */
  function locate(fresh) {
    if (!navigator.geolocation) {
      noGeolocation();
      return Promise.resolve();
    }
    setStatus(t("locating"), "busy");
    const asked = state.loc.source;
    state.geo = new Promise((resolve) => {
      navigator.geolocation.getCurrentPosition(
        (position) => {
          // The person moved the pin while we waited: their choice wins.
          if (state.loc.source === "map" && asked !== "map") return resolve();
          const c = position.coords;
          state.geoFailed = false;
          setLocation(c.latitude, c.longitude, "gps", c.accuracy);
          if (map) map.setView([c.latitude, c.longitude], Math.max(map.getZoom(), 17));
          resolve();
        },
        () => {
          noGeolocation();
          resolve();
        },
        { enableHighAccuracy: true, timeout: GEO_TIMEOUT, maximumAge: fresh ? 0 : 60000 }
      );
    });
    return state.geo;
  }

  function noGeolocation() {
    state.geoFailed = true;
    if (state.loc.source === "map") {
      setStatus(t("moved"), "ok");
      return;
    }
    if (state.loc.source === "gps") { // asked again and failed: the earlier fix stands
      setStatus(t("located", { m: Math.round(state.loc.accuracy || 0) }), "ok");
      return;
    }
    if (bound) {
      setLocation(bound.lat, bound.lon, "qr", null);
      if (map) map.setView([bound.lat, bound.lon], 17);
    } else {
      // Neither the phone nor a QR code says where: the pin waits at the district centre.
      state.loc = { lat: null, lon: null, source: null, accuracy: null };
      showCoords();
      setStatus(t("noLocation"), "warn");
    }
  }

  $("locate").addEventListener("click", () => { locate(true); });

  // --- category -------------------------------------------------------------------------------

  // Category icon slugs (catalog.json) → emoji; a slug not listed gets the generic pin.
  const ICONS = {
    "ac": "❄️", "ancient-tree": "🌳", "banner": "🚩", "barrier": "🚧", "bbq": "🍢",
    "bicycle": "🚲", "billboard": "🖼️", "bin-full": "🗑️", "book": "📖", "boxes": "📦",
    "bridge": "🌉", "broom": "🧹", "bus": "🚌", "cable": "🔌", "car": "🚗", "chicken": "🐔",
    "crowd": "👥", "drain": "🕳️", "dust": "🌫️", "facade": "🏢", "fence": "🧱", "fire": "🔥",
    "flood": "🌊", "garbage": "🗑️", "gas": "⛽", "grass": "🌱", "grate": "🔳", "house": "🏠",
    "hydrant": "🚒", "lamp": "💡", "laundry": "👕", "leaf": "🍂", "leaflet": "📄",
    "litter-bin": "🗑️", "manhole": "🕳️", "noise": "🔊", "notice-board": "📋", "other": "❓",
    "parking": "🅿️", "parking-lot": "🅿️", "paw": "🐾", "person": "🚶", "pipe": "🚰",
    "recycle": "♻️", "refuse-room": "🏚️", "road": "🛣️", "rubble": "🧱", "shed": "🏚️",
    "shop": "🏪", "shop-sign": "🏷️", "shovel": "⛏️", "sign-broken": "⚠️", "sinkhole": "🕳️",
    "smoke": "💨", "snow": "❄️", "sofa": "🛋️", "sort": "♻️", "speaker": "📢", "steam": "♨️",
    "sticker": "📝", "street-sign": "🚏", "taxi": "🚕", "toilet": "🚻", "traffic-light": "🚦",
    "traffic-sign": "⛔", "tree": "🌲", "tree-fallen": "🌲", "tree-hang": "🌿", "truck": "🚚",
    "vendor": "🛒", "water": "💧", "wires": "⚡", "wrench": "🔧",
  };
  const GENERIC_ICON = "📌";
  const emojiSupport = {};

  /** Does this browser draw `emoji` in colour? (Else it would show an empty box.) */
  function canDraw(emoji) {
    if (Object.prototype.hasOwnProperty.call(emojiSupport, emoji)) return emojiSupport[emoji];
    let ok = false;
    try {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 20;
      const ctx = canvas.getContext("2d");
      ctx.textBaseline = "top";
      ctx.font = "16px sans-serif";
      ctx.fillStyle = "#000";
      ctx.fillText(emoji, 0, 0);
      const data = ctx.getImageData(0, 0, 20, 20).data;
      for (let i = 0; i < data.length && !ok; i += 4) {
        ok = data[i + 3] > 0 && (data[i] !== data[i + 1] || data[i + 1] !== data[i + 2]);
      }
    } catch (e) {
      ok = true; // cannot tell: trust the phone, phones have emoji
    }
    emojiSupport[emoji] = ok;
    return ok;
  }

  function iconFor(category) {
    const emoji = ICONS[category.icon] || GENERIC_ICON;
    if (canDraw(emoji)) return el("span", { class: "icon", "aria-hidden": "true" }, emoji);
    // No colour emoji font: the first character of the name in a badge instead.
    return el("span", { class: "icon letter", "aria-hidden": "true" }, Array.from(category.name)[0] || "?");
  }

  const byCode = {};
  CATALOG.forEach((scene) => scene.categories.forEach((c) => {
    if (!byCode[c.code]) byCode[c.code] = { category: c, scene: scene.code };
  }));

  function renderTabs() {
    const tabs = $("scene-tabs");
    tabs.textContent = "";
    const searching = Boolean($("cat-search").value.trim());
    CATALOG.forEach((scene) => {
      const selected = !searching && scene.code === state.scene;
      tabs.appendChild(el("button", {
        type: "button", role: "tab", class: "scene-tab", "aria-selected": selected ? "true" : "false",
        "data-scene": scene.code,
        onclick: () => {
          state.scene = scene.code;
          $("cat-search").value = "";
          renderCategories();
        },
      }, scene.name));
    });
    tabs.hidden = CATALOG.length < 2;
  }

  function matches(category, words) {
    const haystack = [category.name, category.code].concat(category.keywords || []).join(" ").toLowerCase();
    return words.every((w) => haystack.indexOf(w) >= 0);
  }

  function renderCategories() {
    renderTabs();
    const grid = $("cat-grid");
    grid.textContent = "";
    const query = $("cat-search").value.trim().toLowerCase();
    let shown;
    if (query) {
      const words = query.split(/\s+/);
      shown = Object.keys(byCode).map((code) => byCode[code].category).filter((c) => matches(c, words));
    } else {
      const scene = CATALOG.filter((s) => s.code === state.scene)[0];
      shown = scene ? scene.categories : [];
    }
    shown.forEach((category) => {
      const selected = category.code === state.category;
      grid.appendChild(el("button", {
        type: "button", class: "cat" + (selected ? " selected" : ""), "aria-pressed": selected ? "true" : "false",
        "data-category": category.code,
        onclick: () => choose(category.code),
      }, iconFor(category), el("span", { class: "name" }, category.name)));
    });
    grid.setAttribute("aria-label", query ? t("searchResults") : "");
    const empty = $("cat-empty");
    empty.hidden = Boolean(shown.length);
    empty.textContent = shown.length ? "" : t("noMatch");
  }

  function choose(code) {
    state.category = byCode[code] ? code : "";
    if (state.category && !$("cat-search").value.trim()) state.scene = byCode[code].scene;
    if (INSPECTOR) {
      try {
        localStorage.setItem(STORE_KEYS.category, state.category);
        localStorage.setItem(STORE_KEYS.scene, state.scene);
      } catch (e) { /* private mode: nothing remembered */ }
    }
    const unsure = $("unsure");
    unsure.setAttribute("aria-pressed", state.category ? "false" : "true");
    unsure.classList.toggle("selected", !state.category);
    $("chosen").textContent = state.category
      ? t("chosen", { name: byCode[code].category.name })
      : t("notSure");
    form.querySelector('[data-error-for="category"]').textContent = "";
    renderCategories();
    scheduleNearby();
  }

  $("unsure").addEventListener("click", () => choose(""));
  $("cat-search").addEventListener("input", renderCategories);

  // --- description counter -----------------------------------------------------------------

  const description = $("description");
  function countWords() {
    $("desc-count").textContent = String(description.value.length);
  }
  description.addEventListener("input", countWords);

  // --- nearby open reports ("Is it one of these?") ---------------------------------------------

  let nearbyTimer = null;
  let nearbyAsked = 0;
  let nearbyDismissed = "";

  function nearbyKey() {
    const loc = state.loc;
    return state.category + "@" + (loc.lat === null ? "" : loc.lat.toFixed(4) + "," + loc.lon.toFixed(4));
  }

  function scheduleNearby() {
    clearTimeout(nearbyTimer);
    nearbyTimer = setTimeout(loadNearby, 500);
  }

  async function loadNearby() {
    const asked = ++nearbyAsked;
    const loc = state.loc;
    if (!state.category || loc.lat === null || navigator.onLine === false || !cfg.apiNearby ||
        nearbyDismissed === nearbyKey()) {
      $("nearby").hidden = true;
      return;
    }
    const query = new URLSearchParams({ lat: loc.lat.toFixed(7), lon: loc.lon.toFixed(7), category: state.category });
    try {
      const response = await fetch(cfg.apiNearby + "?" + query, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      if (asked === nearbyAsked) renderNearby(data.results || []);
    } catch (e) {
      if (asked === nearbyAsked) $("nearby").hidden = true; // only a hint: never in the way
    }
  }

  function renderNearby(results) {
    const list = $("nearby-list");
    list.textContent = "";
    results.slice(0, 5).forEach((item) => {
      const count = el("span", { class: "count" }, item.me_too_count ? t("meTooCount", { n: item.me_too_count }) : "");
      const button = el("button", { type: "button", class: "btn me-too", "data-number": item.number }, t("meToo"));
      const note = el("p", { class: "me-too-note", "aria-live": "polite" });
      button.addEventListener("click", () => meToo(item.number, button, note, count));
      list.appendChild(el("li", { class: "nearby-item" },
        el("div", { class: "what" },
          el("b", null, item.category || item.number), " ",
          el("span", { class: "status" }, item.status_label),
          el("br"),
          el("small", null, [
            // To the nearest 10 m, at least 10: a phone's position is no better than that.
            t("distance", { m: Math.max(10, Math.round(item.distance_m / 10) * 10) }),
            t("reportedAt", { time: formatTime(item.reported_at) }),
          ].join(" · ")), " ", count),
        button, note));
    });
    $("nearby").hidden = !results.length;
  }

  async function meToo(number, button, note, count) {
    button.disabled = true;
    try {
      const response = await fetch(cfg.apiReports + "/" + encodeURIComponent(number) + "/me-too", {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      let body = {};
      try { body = await response.json(); } catch (e) { /* not JSON */ }
      if (!response.ok) throw new Error(body.detail || String(response.status));
      note.textContent = t("meTooDone");
      note.className = "me-too-note done";
      count.textContent = t("meTooCount", { n: body.count });
      button.hidden = true;
    } catch (e) {
      note.textContent = t("meTooFailed", { detail: e.message });
      note.className = "me-too-note error";
      button.disabled = false;
    }
  }

  $("nearby-skip").addEventListener("click", () => {
    nearbyDismissed = nearbyKey();
    $("nearby").hidden = true;
  });

  // --- the outbox: IndexedDB, or memory when the browser has none ---------------------------

  // Shared with the other phone page: yunbao/web/static/yunbao/outbox.js.
  const outbox = window.YunbaoOutbox("yunbao-report");

  // --- sending ------------------------------------------------------------------------------

  /** POST one report. → {kind: "ok" | "retry" | "refused", status, body}; never rejects. */
  function send(record, onProgress) {
    return new Promise((resolve) => {
      const data = new FormData();
      Object.keys(record.fields).forEach((name) => data.append(name, record.fields[name]));
      record.photos.forEach((p) => data.append("photos", p.blob, p.name));
      const xhr = new XMLHttpRequest();
      xhr.open("POST", cfg.apiReports);
      xhr.setRequestHeader("Idempotency-Key", record.key);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.timeout = 180000; // a slow line may take minutes for six photos
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      }
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* a proxy's HTML page */ }
        const status = xhr.status;
        if ((status === 200 || status === 201) && body && body.number) resolve({ kind: "ok", status, body });
        else if (status === 0 || status >= 500 || status === 408 || status === 413 || status === 429 || !body) {
          resolve({ kind: "retry", status, body });
        } else resolve({ kind: "refused", status, body });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = () => resolve({ kind: "retry", status: 0, body: null });
      try {
        xhr.send(data);
      } catch (e) {
        resolve({ kind: "retry", status: 0, body: null });
      }
    });
  }

  function backoff(attempts) {
    const delay = Math.min(BACKOFF_MAX, BACKOFF_FIRST * Math.pow(2, Math.max(0, attempts - 1)));
    return Math.round(delay * (0.8 + 0.4 * Math.random()));
  }

  function whyQueued(status) {
    if (!outbox.persistent) return "memory";
    return status === 0 || navigator.onLine === false ? "offline" : "server";
  }

  async function requeue(record, result) {
    record.attempts = (record.attempts || 0) + 1;
    record.nextAt = Date.now() + backoff(record.attempts);
    record.why = whyQueued(result.status);
    await outbox.put(record);
  }

  // --- the outbox banner ----------------------------------------------------------------------

  const sentNow = []; // {number, tracking_url} of saved reports sent while this page is open
  let flushing = false;
  let flushTimer = null;

  async function renderOutbox(sendingKey) {
    const box = $("outbox");
    const records = await outbox.all();
    box.textContent = "";
    const waiting = records.filter((r) => r.state !== "refused");
    if (waiting.length) {
      const why = waiting.map((r) => r.why).indexOf("memory") >= 0 ? "memory"
        : navigator.onLine === false || waiting.some((r) => r.why === "offline") ? "offline" : "server";
      const list = el("ul", null);
      waiting.forEach((r) => {
        const words = (r.fields.description || "").slice(0, 40) || t("noWords");
        list.appendChild(el("li", null,
          el("span", null, r.key === sendingKey ? t("sendingSaved") : t("waiting", { time: formatTime(r.created) })),
          el("br"),
          el("small", null, words + " · " + t("photos", { n: r.photos.length }))));
      });
      box.appendChild(el("div", { class: "banner queued", role: "status" },
        el("p", { class: "lead" }, why === "memory" ? t("queuedMemory")
          : why === "offline" ? t("queuedOffline") : t("queuedServer")),
        list,
        el("button", { type: "button", class: "btn", onclick: () => flush(true) }, t("sendNow"))));
    }
    records.filter((r) => r.state === "refused").forEach((r) => {
      box.appendChild(el("div", { class: "banner refused", role: "alert" },
        el("p", null, t("refused", { detail: r.detail || "" })),
        el("small", null, (r.fields.description || "").slice(0, 40) || t("noWords")),
        el("div", { class: "actions" },
          el("button", {
            type: "button", class: "btn", onclick: async () => {
              r.state = "pending";
              r.nextAt = 0;
              await outbox.put(r);
              flush(true);
            },
          }, t("retry")),
          el("button", {
            type: "button", class: "btn", onclick: async () => {
              await outbox.remove(r.key);
              renderOutbox();
            },
          }, t("discard")))));
    });
    sentNow.forEach((done) => {
      box.appendChild(el("div", { class: "banner sent", role: "status" },
        el("p", null, t("sent", { number: done.number }), " ",
          el("a", { href: done.tracking_url }, t("follow")))));
    });
  }

  function scheduleFlush(records) {
    clearTimeout(flushTimer);
    const pending = records.filter((r) => r.state !== "refused");
    if (!pending.length) return;
    const next = Math.min.apply(null, pending.map((r) => r.nextAt || 0));
    flushTimer = setTimeout(() => flush(false), Math.max(1000, next - Date.now()));
  }

  /** Send the saved reports that are due (all of them when `now`). */
  async function flush(now) {
    if (flushing) return;
    flushing = true;
    const run = async () => {
      for (const record of await outbox.all()) {
        if (record.state === "refused" || record.key === state.inFlight) continue;
        if (!now && (record.nextAt || 0) > Date.now()) continue;
        if (navigator.onLine === false) break;
        await renderOutbox(record.key);
        const result = await send(record);
        if (result.kind === "ok") {
          await outbox.remove(record.key);
          sentNow.push(result.body);
        } else if (result.kind === "retry") {
          await requeue(record, result);
        } else {
          record.state = "refused";
          record.detail = (result.body && result.body.detail) || String(result.status);
          await outbox.put(record);
        }
      }
    };
    try {
      // Several tabs may be open: one of them sends at a time (the key makes a race harmless).
      if (navigator.locks && navigator.locks.request) {
        await navigator.locks.request("yunbao-report-outbox", { ifAvailable: true }, (lock) => (lock ? run() : null));
      } else {
        await run();
      }
    } catch (e) {
      // Keep everything; the timer tries again.
    } finally {
      flushing = false;
      const records = await outbox.all();
      await renderOutbox();
      scheduleFlush(records);
    }
  }

  window.addEventListener("online", () => { flush(true); scheduleNearby(); });
  window.addEventListener("offline", () => renderOutbox());
  document.addEventListener("visibilitychange", () => { if (!document.hidden) flush(false); });

  // --- submit -------------------------------------------------------------------------------

  function busy(on, text) {
    state.sending = on;
    const button = $("send");
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
    $("send-status").textContent = text || "";
    $("progress").hidden = !on;
    if (!on) $("progress-bar").style.width = "0";
  }

  function progress(share) {
    const percent = Math.round(share * 100);
    $("progress-bar").style.width = percent + "%";
    $("send-status").textContent = t("sending", { p: percent + "%" });
  }

  /** When neither the phone nor a QR code gave a place, the server may read it from a photo. */
  function photoPlaceWanted() {
    return state.geoFailed && state.loc.source !== "gps" && !areaCode && !unitCode;
  }

  function photosToSend() {
    return state.photos.map((photo, i) => {
      // The server reads the GPS position in a photo's EXIF when nothing else says where
      // the problem is, and a canvas resize drops EXIF. So when geolocation failed and no
      // QR area is bound, the first photo goes as taken (if under 5 MB); the rest, and
      // every photo otherwise, go shrunk to save the resident's data and time.
      if (i === 0 && photoPlaceWanted() && photo.original.size <= EXIF_ORIGINAL_MAX) {
        return { blob: photo.original, name: photo.original.name || "photo.jpg" };
      }
      if (photo.blob) return { blob: photo.blob, name: "photo-" + (i + 1) + ".jpg" };
      return { blob: photo.original, name: photo.original.name || "photo-" + (i + 1) + ".jpg" };
    });
  }

  function buildRecord() {
    const loc = state.loc;
    const fields = {
      lat: "", lon: "", crs: "wgs84", location_source: "",
      area: areaCode, unit: unitCode, category: state.category,
      description: description.value.trim(),
      nickname: $("nickname").value.trim(),
      phone: $("phone").value.trim(),
    };
    if (loc.lat !== null) {
      fields.lat = loc.lat.toFixed(7);
      fields.lon = loc.lon.toFixed(7);
      fields.location_source = loc.source;
    } else if (areaCode || unitCode) {
      fields.location_source = "qr"; // the server puts it at the QR area's centre
    } else {
      fields.location_source = "exif"; // the server reads the first photo's GPS position
    }
    return {
      key: state.key, fields: fields, photos: photosToSend(),
      created: Date.now(), attempts: 0, nextAt: 0, state: "pending",
    };
  }

  function validate() {
    let ok = true;
    const phone = $("phone").value.trim();
    if (phone && !PHONE_RE.test(phone)) {
      showError("phone", t("badPhone"));
      ok = false;
    }
    if (!state.photos.length && !description.value.trim() && !state.category) {
      showError("", t("needSomething"));
      ok = false;
    }
    if (state.loc.lat === null && !areaCode && !unitCode && !state.photos.length && state.geoFailed) {
      showError("lat", t("whereIsIt"));
      ok = false;
    }
    return ok;
  }

  function resetForm() {
    state.photos.forEach((p) => { if (p.url) URL.revokeObjectURL(p.url); });
    state.photos = [];
    renderThumbs();
    description.value = "";
    countWords();
    choose(INSPECTOR ? state.category : "");
    state.key = newKey();
    nearbyDismissed = "";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.sending) return; // no double tap
    clearErrors();
    if (!validate()) return;
    busy(true, t("preparing"));
    let keepBusy = false;
    try {
      await state.geo; // at most the geolocation timeout
      if (state.loc.lat === null && !areaCode && !unitCode && !state.photos.length) {
        showError("lat", t("whereIsIt"));
        return;
      }
      await Promise.all(state.photos.map((p) => p.ready));
      const record = buildRecord();
      state.inFlight = record.key;
      await outbox.put(record); // on the phone first, then on the wire: never lost
      const result = navigator.onLine === false
        ? { kind: "retry", status: 0, body: null }
        : await send(record, progress);
      if (result.kind === "ok") {
        await outbox.remove(record.key);
        keepBusy = true;
        state.sent = true;
        location.assign(result.body.tracking_url);
        return;
      }
      if (result.kind === "retry") {
        await requeue(record, result);
        resetForm();
        state.inFlight = "";
        const records = await outbox.all();
        await renderOutbox();
        scheduleFlush(records);
        $("outbox").scrollIntoView({ behavior: "smooth", block: "start" });
        return;
      }
      // Refused: nothing was stored on the server; the person corrects and sends again.
      await outbox.remove(record.key);
      const body = result.body || {};
      if (result.status === 409) state.key = newKey();
      const errors = body.errors || [];
      if (errors.length) errors.forEach((e) => showError(e.field, e.message));
      else showError("", t("failed", { detail: body.detail || result.status }));
    } catch (e) {
      showError("", t("failed", { detail: e.message }));
    } finally {
      state.inFlight = "";
      if (!keepBusy) busy(false);
    }
  });

  // Back from the tracking page (the page comes out of the back-forward cache): a new form.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && state.sent) {
      state.sent = false;
      busy(false);
      resetForm();
    }
  });

  // --- service worker: the page opens without a network -----------------------------------

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator) || !cfg.swUrl) return;
    const first = !navigator.serviceWorker.controller;
    const url = cfg.swUrl + "?static=" + encodeURIComponent(cfg.static || "/static/");
    navigator.serviceWorker.register(url).then(() => {
      if (!first) return null; // later visits are cached as they go through the worker
      return navigator.serviceWorker.ready.then((registration) => {
        const urls = [location.href];
        document.querySelectorAll("link[rel=stylesheet][href], script[src]").forEach((node) => {
          urls.push(node.href || node.src);
        });
        if (registration.active) registration.active.postMessage({ type: "precache", urls: urls });
      });
    }).catch(() => { /* no offline copy; the page works online */ });
  }

  // --- start ----------------------------------------------------------------------------------

  let remembered = "";
  if (INSPECTOR) {
    try {
      state.scene = localStorage.getItem(STORE_KEYS.scene) || state.scene;
      remembered = localStorage.getItem(STORE_KEYS.category) || "";
    } catch (e) { /* private mode */ }
    if (!CATALOG.some((s) => s.code === state.scene)) state.scene = CATALOG.length ? CATALOG[0].code : "";
  }
  choose(remembered);
  countWords();
  initMap(bound ? [bound.lat, bound.lon] : DEFAULT_CENTRE);
  locate();
  renderOutbox();
  flush(true);
  if (document.readyState === "complete") registerServiceWorker();
  else window.addEventListener("load", registerServiceWorker);
})();

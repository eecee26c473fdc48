/*
 * What the page scripts share (the report page, the worker's task and check pages, the
 * dispatcher's console, the live map and the track): the translated strings, a small DOM
 * builder and the base map. No visible text lives here: each page hands in the dictionary
 * its template translated.
 *
 *   const t = window.YunbaoPage.strings(STRINGS);   t("seen", { age: "3 min" })
 *   const el = window.YunbaoPage.el;                el("li", { class: "x", onclick: f }, child, "text")
 *   const map = window.YunbaoPage.baseMap(box, { tileUrl, areas, unavailable, view });
 *   view: (map, areaBounds) => window.YunbaoPage.fitAreas(map, areaBounds, centre, zoom)
 *
 * Plain ES2017 (no optional chaining) for old phone browsers.
 */
(function () {
  "use strict";

  /** A page's t(): the translated string of `key` with {name} placeholders filled in. */
  function strings(dictionary) {
    return function t(key, values) {
      let text = Object.prototype.hasOwnProperty.call(dictionary, key) ? dictionary[key] : key;
      Object.keys(values || {}).forEach((name) => {
        text = text.split("{" + name + "}").join(String(values[name]));
      });
      return text;
    };
  }

  /**
   * el("li", {class: "x", onclick: f, text: "…"}, child, "text"): attributes that are null,
   * undefined or false are left out, true gives an empty one; `on…` adds a listener and
   * `text` sets the text. Children that are strings go in as text, never as HTML.
   */
  function el(tag, attrs) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach((name) => {
      const value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  const AREA_STYLE = { color: "#0b6bcb", weight: 1.5, opacity: 0.6, fillColor: "#0b6bcb", fillOpacity: 0.04 };

  /**
   * A Leaflet map in `box` on the site's base: the tiles of `options.tileUrl` (without one,
   * no attribution and the box gets class "blank"), the outlines of `options.areas` (GeoJSON)
   * when given, and a metric scale. `options.leaflet` adds to the map's options or overrides
   * them (half zoom steps by default).
   *
   * `options.view(map, areaBounds)` sets the view first, before any layer is added: vector
   * layers added before the map has one share a renderer that is not ready yet (Leaflet 1.9
   * then fails to clip them). `areaBounds` is not valid when there are no areas.
   *
   * Without Leaflet (its file did not load) the answer is null; the box then says
   * `options.unavailable` (class "missing") when it is given, else the page deals with it.
   */
  function baseMap(box, options) {
    if (typeof window.L === "undefined") {
      if (options.unavailable) {
        box.classList.add("missing");
        box.textContent = options.unavailable;
      }
      return null;
    }
    const map = L.map(box, Object.assign({ attributionControl: Boolean(options.tileUrl), zoomSnap: 0.5 }, options.leaflet));
    const areas = options.areas ? L.geoJSON(options.areas, { interactive: false, style: AREA_STYLE }) : null;
    options.view(map, areas ? areas.getBounds() : L.latLngBounds([]));
    if (options.tileUrl) L.tileLayer(options.tileUrl, { maxZoom: 19 }).addTo(map);
    else box.classList.add("blank");
    if (areas) areas.addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    return map;
  }

  /** A view for baseMap: over the areas, or `centre` at `zoom` without any; true when over the areas. */
  function fitAreas(map, areaBounds, centre, zoom) {
    if (!areaBounds.isValid()) {
      map.setView(centre, zoom);
      return false;
    }
    map.fitBounds(areaBounds, { padding: [12, 12] });
    return true;
  }

  window.YunbaoPage = { strings, el, baseMap, fitAreas };
})();

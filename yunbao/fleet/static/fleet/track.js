/* A device's track of one day: the path over the area outline, its stops, and playback.
 *
 * The page carries the kept fixes as [epoch seconds, lat, lon, km/h or null, metres so
 * far, 1 when a new segment starts after a jump]. The slider runs over the seconds from the
 * first fix to the last; the marker is placed between the two fixes around that moment
 * (never across a jump). Play advances it at the chosen multiple of real time.
 *
 * No visible text lives here: it comes from the template's #track-strings.
 */
(() => {
  "use strict";

  const root = document.getElementById("f-track");
  if (!root) return;

  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const STRINGS = json("track-strings");
  const POINTS = json("track-points");
  const STOPS = json("track-stops");
  const AREAS = json("track-areas");
  if (!POINTS.length) return;
  const cfg = root.dataset;
  const LANG = document.documentElement.lang || undefined;
  const $ = (id) => document.getElementById(id);
  const slider = $("f-slider");
  const playButton = $("f-play");
  const rate = $("f-rate");

  // Shared with the other pages: yunbao/web/static/yunbao/page.js.
  const t = window.YunbaoPage.strings(STRINGS);

  function formatter(options) {
    try {
      return new Intl.DateTimeFormat(LANG, Object.assign({ timeZone: cfg.timeZone, hour12: false }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(LANG, Object.assign({ hour12: false }, options));
    }
  }
  const TIME = formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const SHORT = formatter({ hour: "2-digit", minute: "2-digit" });

  const FIRST = POINTS[0][0];
  const SPAN = POINTS[POINTS.length - 1][0] - FIRST;
  slider.max = String(SPAN);

  // --- The map --------------------------------------------------------------------------

  let marker = null;
  const map = window.YunbaoPage.baseMap($("f-track-map"), {
    tileUrl: cfg.tileUrl,
    areas: AREAS,
    unavailable: t("mapUnavailable"),
    view: (m) => m.fitBounds(L.latLngBounds(POINTS.map((p) => [p[1], p[2]])), { padding: [24, 24], maxZoom: 17 }),
  });
  if (map) {
    // One line per segment: a jump the device really made is not drawn as a path.
    const segments = [];
    POINTS.forEach((p) => {
      if (p[5] === 1 || !segments.length) segments.push([]);
      segments[segments.length - 1].push([p[1], p[2]]);
    });
    L.polyline(segments, { color: "#0b6bcb", weight: 4, opacity: 0.85, interactive: false }).addTo(map);
    STOPS.forEach((s) => {
      L.circleMarker([s[0], s[1]], { radius: 7, color: "#fff", weight: 2, fillColor: "#d99a00", fillOpacity: 0.95 })
        .bindTooltip(document.createTextNode(t("stop", { n: s[2] })), { direction: "top" })
        .addTo(map);
    });
    const ends = [
      [POINTS[0], "#1a7f37", "start"],
      [POINTS[POINTS.length - 1], "#1d2733", "end"],
    ];
    ends.forEach(([p, colour, key]) => {
      L.circleMarker([p[1], p[2]], { radius: 6, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 1 })
        .bindTooltip(document.createTextNode(t(key, { time: SHORT.format(new Date(p[0] * 1000)) })), { direction: "top" })
        .addTo(map);
    });
    marker = L.circleMarker([POINTS[0][1], POINTS[0][2]], {
      radius: 9, color: "#fff", weight: 3, fillColor: "#c62828", fillOpacity: 1, interactive: false,
    }).addTo(map);
  }

  // --- Where the device was at a moment ----------------------------------------------------

  /** The last fix at or before `time` (binary search over the sorted fixes). */
  function indexAt(time) {
    let lo = 0;
    let hi = POINTS.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (POINTS[mid][0] <= time) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  function at(offset) {
    const time = FIRST + offset;
    const a = POINTS[indexAt(time)];
    const b = POINTS[indexAt(time) + 1];
    if (!b || b[5] === 1 || b[0] <= a[0] || time <= a[0]) {
      return { time: time, lat: a[1], lon: a[2], speed: a[3], metres: a[4] };
    }
    const f = (time - a[0]) / (b[0] - a[0]);
    return {
      time: time,
      lat: a[1] + (b[1] - a[1]) * f,
      lon: a[2] + (b[2] - a[2]) * f,
      speed: f < 0.5 ? a[3] : b[3],
      metres: a[4] + (b[4] - a[4]) * f,
    };
  }

  function show(offset) {
    const p = at(offset);
    if (marker) marker.setLatLng([p.lat, p.lon]);
    $("f-time").textContent = TIME.format(new Date(p.time * 1000));
    $("f-speed").textContent = p.speed === null || p.speed === undefined ? "—" : t("kmh", { n: Math.round(p.speed) });
    $("f-so-far").textContent = t("km", { n: (p.metres / 1000).toFixed(1) });
    root.dataset.at = String(Math.round(p.time)); // for people reading the page's state (and tests)
  }

  // --- Playback ----------------------------------------------------------------------------

  let playing = false;
  let position = 0;
  let lastFrame = 0;

  function frame(moment) {
    if (!playing) return;
    const elapsed = Math.min(1, (moment - lastFrame) / 1000); // a background tab resumes gently
    lastFrame = moment;
    position = Math.min(SPAN, position + elapsed * Number(rate.value));
    slider.value = String(Math.round(position));
    show(position);
    if (position >= SPAN) {
      pause();
      return;
    }
    requestAnimationFrame(frame);
  }

  function play() {
    if (position >= SPAN) position = 0;
    playing = true;
    playButton.textContent = t("pause");
    playButton.setAttribute("aria-pressed", "true");
    lastFrame = performance.now();
    requestAnimationFrame(frame);
  }

  function pause() {
    playing = false;
    playButton.textContent = t("play");
    playButton.setAttribute("aria-pressed", "false");
  }

  playButton.addEventListener("click", () => (playing ? pause() : play()));
  slider.addEventListener("input", () => {
    position = Number(slider.value);
    show(position);
  });
  show(0);
})();

/* The field pages (worker's task, supervisor's check): actions that survive a poor network.
 *
 * Every action form carries an idempotency key made by the server when it drew the page.
 * On submit the action is first written to the phone's outbox (IndexedDB, like the report
 * page's: it holds the photos as Blobs, which localStorage cannot), then sent. The server
 * makes the move once per key and answers a repeat with the first result, so an action
 * that is sent twice (a lost answer, two tabs) is still made once. Without a network the
 * action waits in the outbox — the page says so and shows the forms the queued moves lead
 * to — and is sent on `online`, on the next page load and on a timer with backoff.
 *
 * After-photos are shrunk on the phone (longest side 1600 px, JPEG) as on the report page.
 * No visible text lives here: it comes from the template's dictionary (#field-strings).
 * Plain ES2017 for old phone browsers.
 */
(() => {
  "use strict";

  const stringsNode = document.getElementById("field-strings");
  if (!stringsNode) return;
  const STRINGS = JSON.parse(stringsNode.textContent);
  const LANG = document.documentElement.lang || undefined;
  const LONGEST_SIDE = 1600;
  const JPEG_QUALITY = 0.8;
  const GEO_TIMEOUT = 15000;
  const SEND_TIMEOUT = 120000;
  const BACKOFF_FIRST = 5000;
  const BACKOFF_MAX = 5 * 60 * 1000;
  const page = document.querySelector(".field[data-order]");
  const ORDER = page ? page.dataset.order : "";

  // Shared with the other pages: yunbao/web/static/yunbao/page.js.
  const t = window.YunbaoPage.strings(STRINGS);
  const el = window.YunbaoPage.el;

  function newKey() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    const bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
  }

  function formatTime(value) {
    const date = new Date(value);
    try {
      return date.toLocaleString(LANG, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      return date.toLocaleString();
    }
  }

  function csrfToken(form) {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = (form || document).querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // --- photos: shrunk on the phone (as the report page does) ------------------------------

  // Shared with the other photo page: yunbao/web/static/yunbao/photos.js.
  const shrink = (file) => window.YunbaoPhotos.shrink(file, LONGEST_SIDE, JPEG_QUALITY);

  const photos = []; // {original, blob, url, ready}
  let photoChain = Promise.resolve();
  const photoInput = document.getElementById("after-photos");
  const thumbs = document.getElementById("after-thumbs");

  function renderThumbs() {
    if (!thumbs) return;
    thumbs.textContent = "";
    photos.forEach((photo) => {
      thumbs.appendChild(el("li", { class: photo.url ? "thumb" : "thumb busy" },
        photo.url ? el("img", { src: photo.url, alt: "" }) : el("span", { class: "spinner", "aria-hidden": "true" }),
        el("button", {
          type: "button", class: "remove", "aria-label": t("removePhoto"), title: t("removePhoto"),
          onclick: () => {
            photos.splice(photos.indexOf(photo), 1);
            if (photo.url) URL.revokeObjectURL(photo.url);
            renderThumbs();
          },
        }, "×")));
    });
  }

  if (photoInput) {
    photoInput.addEventListener("change", () => {
      const form = photoInput.form;
      errorOf(form, "");
      Array.prototype.slice.call(photoInput.files || []).forEach((file) => {
        if (file.type && file.type.indexOf("image/") !== 0) {
          errorOf(form, t("notAPhoto"));
          return;
        }
        // The camera file's time is when the photo was taken (its EXIF goes with the resize).
        const photo = { original: file, blob: null, url: null, taken: file.lastModified ? new Date(file.lastModified).toISOString() : "" };
        photo.ready = photoChain = photoChain
          .then(() => shrink(file))
          .then((blob) => { photo.blob = blob; }, () => { photo.blob = null; })
          .then(() => {
            if (photos.indexOf(photo) < 0) return;
            photo.url = URL.createObjectURL(photo.blob || photo.original);
            renderThumbs();
          });
        photos.push(photo);
      });
      photoInput.value = ""; // the script sends the photos it holds, not the input's
      renderThumbs();
      placePhotos(form);
    });
  }

  /** Where the phone is as the photos are taken: the supervisor compares it with the report. */
  function placePhotos(form) {
    return position().then((c) => {
      form.elements.lat.value = c.latitude.toFixed(7);
      form.elements.lon.value = c.longitude.toFixed(7);
      form.elements.accuracy.value = c.accuracy ? String(Math.round(c.accuracy)) : "";
    }, () => { /* no position: the photos go without one */ });
  }

  // --- the outbox ---------------------------------------------------------------------------

  // Shared with the other phone page: yunbao/web/static/yunbao/outbox.js.
  const outbox = window.YunbaoOutbox("yunbao-field");

  // --- sending ------------------------------------------------------------------------------

  /** POST one action → {kind: "ok" | "retry" | "refused", status, body}; never rejects. */
  async function send(record) {
    const data = new FormData();
    Object.keys(record.fields).forEach((name) => data.append(name, record.fields[name]));
    record.photos.forEach((p) => data.append("photos", p.blob, p.name));
    const controller = window.AbortController ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), SEND_TIMEOUT) : null;
    try {
      const response = await fetch(record.url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
        signal: controller ? controller.signal : undefined,
      });
      let body = null;
      try { body = await response.json(); } catch (e) { /* a proxy's or the login page */ }
      const status = response.status;
      if (status === 200 && body && body.ok) return { kind: "ok", status, body };
      if (status >= 500 || status === 408 || status === 429 || !body) return { kind: "retry", status, body };
      return { kind: "refused", status, body };
    } catch (e) {
      return { kind: "retry", status: 0, body: null };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  function backoff(attempts) {
    const delay = Math.min(BACKOFF_MAX, BACKOFF_FIRST * Math.pow(2, Math.max(0, attempts - 1)));
    return Math.round(delay * (0.8 + 0.4 * Math.random()));
  }

  async function requeue(record, result) {
    record.attempts = (record.attempts || 0) + 1;
    record.nextAt = Date.now() + backoff(record.attempts);
    record.why = !outbox.persistent ? "memory"
      : result.status === 0 || navigator.onLine === false ? "offline" : "server";
    await outbox.put(record);
  }

  // --- what the page shows --------------------------------------------------------------------

  const box = document.getElementById("outbox");
  const sentNow = [];
  let flushing = false;
  let flushTimer = null;

  function label(record) {
    return { action: t(record.action), order: record.order };
  }

  async function render(sendingKey) {
    const records = await outbox.all();
    if (box) {
      box.textContent = "";
      const waiting = records.filter((r) => r.state !== "refused");
      if (waiting.length) {
        const why = waiting.some((r) => r.why === "memory") ? "memory"
          : navigator.onLine === false || waiting.some((r) => r.why === "offline") ? "offline" : "server";
        const list = el("ul", null);
        waiting.forEach((r) => list.appendChild(el("li", null,
          r.key === sendingKey ? t("sending") : t("waiting", Object.assign(label(r), { time: formatTime(r.created) })))));
        box.appendChild(el("div", { class: "banner queued", role: "status" },
          el("p", { class: "lead" }, t(why === "memory" ? "queuedMemory" : why === "offline" ? "queuedOffline" : "queuedServer")),
          list,
          el("button", { type: "button", class: "btn", onclick: () => flush(true) }, t("sendNow"))));
      }
      records.filter((r) => r.state === "refused").forEach((r) => {
        box.appendChild(el("div", { class: "banner refused", role: "alert" },
          el("p", null, t("refused", Object.assign(label(r), { detail: r.detail || "" }))),
          el("button", {
            type: "button", class: "btn", onclick: async () => { await outbox.remove(r.key); render(); },
          }, t("discard"))));
      });
      sentNow.forEach((r) => box.appendChild(el("div", { class: "banner sent", role: "status" },
        el("p", null, t("sent", label(r))))));
    }
    showExpectedForms(records);
    return records;
  }

  /** Show the forms the queued (not yet sent) moves of this order lead to. */
  function showExpectedForms(records) {
    if (!page || !page.dataset.status) return;
    const mine = records.filter((r) => r.order === ORDER && r.state !== "refused");
    if (!mine.length) return;
    let status = page.dataset.status;
    let requested = page.dataset.pending === "1";
    mine.forEach((r) => {
      if (r.leads) status = r.leads;
      if (r.action === "request") requested = true;
    });
    let any = false;
    page.querySelectorAll("[data-in]").forEach((node) => {
      const show = node.dataset.in.split(" ").indexOf(status) >= 0 &&
        !(node.dataset.action === "request" && requested);
      node.hidden = !show;
      any = any || show;
    });
    const none = document.getElementById("no-moves");
    if (none) none.hidden = any;
  }

  function scheduleFlush(records) {
    clearTimeout(flushTimer);
    const pending = records.filter((r) => r.state !== "refused");
    if (!pending.length) return;
    const next = Math.min.apply(null, pending.map((r) => r.nextAt || 0));
    flushTimer = setTimeout(() => flush(false), Math.max(1000, next - Date.now()));
  }

  let inFlight = "";

  /** Send the waiting actions in the order they were made (all of them when `now`). */
  async function flush(now) {
    if (flushing) return;
    flushing = true;
    let sentHere = false;
    const run = async () => {
      for (const record of await outbox.all()) {
        if (record.state === "refused" || record.key === inFlight) continue;
        if (!now && (record.nextAt || 0) > Date.now()) break; // keep the order of moves
        if (navigator.onLine === false) break;
        await render(record.key);
        const result = await send(record);
        if (result.kind === "ok") {
          await outbox.remove(record.key);
          sentNow.push(record);
          if (record.order === ORDER) sentHere = true;
        } else if (result.kind === "retry") {
          await requeue(record, result);
          break; // a later move of the same order needs this one first
        } else {
          record.state = "refused";
          record.detail = (result.body && result.body.detail) || String(result.status);
          await outbox.put(record);
        }
      }
    };
    try {
      if (navigator.locks && navigator.locks.request) {
        await navigator.locks.request("yunbao-field-outbox", { ifAvailable: true }, (lock) => (lock ? run() : null));
      } else {
        await run();
      }
    } catch (e) {
      // Keep everything; the timer tries again.
    } finally {
      flushing = false;
      const records = await render();
      scheduleFlush(records);
      // This order's state changed on the server: draw the page afresh once nothing waits.
      if (sentHere && !records.some((r) => r.order === ORDER && r.state !== "refused")) location.reload();
    }
  }

  window.addEventListener("online", () => flush(true));
  window.addEventListener("offline", () => render());
  document.addEventListener("visibilitychange", () => { if (!document.hidden) flush(false); });

  // --- the forms ------------------------------------------------------------------------------

  function errorOf(form, message) {
    const slot = form.querySelector(".field-error");
    if (slot) slot.textContent = message;
  }

  function position() {
    return new Promise((resolve, reject) => {
      if (!navigator.geolocation) return reject(new Error("no geolocation"));
      navigator.geolocation.getCurrentPosition(
        (p) => resolve(p.coords),
        (error) => reject(error),
        { enableHighAccuracy: true, timeout: GEO_TIMEOUT, maximumAge: 30000 }
      );
    });
  }

  function fieldsOf(form) {
    const fields = {};
    Array.prototype.forEach.call(form.elements, (input) => {
      if (!input.name || input.type === "file" || input.name === "csrfmiddlewaretoken") return;
      fields[input.name] = input.value;
    });
    return fields;
  }

  async function submit(form, button) {
    const action = form.dataset.action;
    errorOf(form, "");
    const note = form.querySelector("textarea[required]");
    if (note && !note.value.trim()) {
      errorOf(form, t("needNote"));
      note.focus();
      return;
    }
    if (action === "finish" && !photos.length) {
      errorOf(form, t("needPhoto"));
      return;
    }
    if (action === "arrive") {
      errorOf(form, t("locating"));
      try {
        const c = await position();
        form.elements.lat.value = c.latitude.toFixed(7);
        form.elements.lon.value = c.longitude.toFixed(7);
        form.elements.accuracy.value = c.accuracy ? String(Math.round(c.accuracy)) : "";
        errorOf(form, "");
      } catch (e) {
        errorOf(form, t("noPosition"));
        return;
      }
    }
    if (action === "finish") {
      await Promise.all(photos.map((p) => p.ready));
      if (!form.elements.lat.value) await placePhotos(form);
      form.elements.photo_times.value = JSON.stringify(photos.map((p) => p.taken));
    }
    const record = {
      key: form.elements.key.value,
      url: form.action,
      order: ORDER,
      action: action,
      leads: form.dataset.leads || "",
      fields: fieldsOf(form),
      photos: action === "finish"
        ? photos.map((p, i) => ({ blob: p.blob || p.original, name: "after-" + (i + 1) + ".jpg" }))
        : [],
      created: Date.now(), attempts: 0, nextAt: 0, state: "pending",
    };
    inFlight = record.key;
    await outbox.put(record); // on the phone first, then on the wire: never lost
    // Earlier moves of this order still waiting go first; this one follows them.
    const earlier = (await outbox.all()).some((r) => r.order === ORDER && r.key !== record.key && r.state !== "refused");
    const result = navigator.onLine === false || earlier
      ? { kind: "retry", status: 0, body: null }
      : await send(record);
    inFlight = "";
    if (result.kind === "ok") {
      await outbox.remove(record.key);
      if (result.body.next && result.body.next !== location.pathname) location.assign(result.body.next);
      else location.reload();
      return true;
    }
    if (result.kind === "retry") {
      await requeue(record, result);
      form.elements.key.value = newKey(); // the next use of this form is another action
      if (action === "finish") {
        photos.splice(0, photos.length);
        renderThumbs();
      }
      const records = await render();
      scheduleFlush(records);
      if (earlier) flush(true);
      if (box) box.scrollIntoView({ behavior: "smooth", block: "start" });
      return false;
    }
    // Refused: nothing happened on the server; what was typed stays for a correction.
    await outbox.remove(record.key);
    const body = result.body || {};
    if (result.status === 409) form.elements.key.value = newKey();
    errorOf(form, body.detail || t("failed", { detail: result.status }));
    return false;
  }

  document.querySelectorAll("form.act").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button.primary");
      if (button.disabled) return; // no double tap
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      let leaving = false;
      try {
        leaving = await submit(form, button);
      } catch (e) {
        errorOf(form, t("failed", { detail: e.message }));
      } finally {
        if (!leaving) {
          button.disabled = false;
          button.setAttribute("aria-busy", "false");
        }
      }
    });
  });

  // The extension's date is asked only for an extension.
  const kind = document.getElementById("request-kind");
  if (kind) {
    const toggle = () => document.querySelectorAll(".until").forEach((node) => {
      node.hidden = kind.value !== "extension";
    });
    kind.addEventListener("change", toggle);
    toggle();
  }

  render().then(() => flush(true));
})();

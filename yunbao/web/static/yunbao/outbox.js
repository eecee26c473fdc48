/*
 * The phone's outbox, shared by the report page (intake) and the worker's task page (field):
 * records waiting to be sent, kept in IndexedDB so they survive closing the page (photos as
 * Blobs, or as bytes where a browser cannot store a Blob), in memory when the browser has
 * no IndexedDB at all (some private modes; `persistent` then says so).
 *
 *   const outbox = window.YunbaoOutbox("yunbao-report");
 *   await outbox.put(record); await outbox.all(); await outbox.remove(key);
 */
(function () {
  "use strict";

  window.YunbaoOutbox = function (dbName) {
    const STORE = "outbox";
    let dbPromise = null;

    function openDb() {
      if (!dbPromise) {
        dbPromise = new Promise((resolve, reject) => {
          if (!window.indexedDB) return reject(new Error("no IndexedDB"));
          const request = indexedDB.open(dbName, 1);
          request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "key" });
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        dbPromise.catch(() => { dbPromise = null; });
      }
      return dbPromise;
    }

    async function inStore(mode, work) {
      const db = await openDb();
      return new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = work(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
    }

    // Some older Safaris cannot store a Blob in IndexedDB: keep the bytes then.
    async function withBuffers(record) {
      const copy = Object.assign({}, record);
      copy.photos = await Promise.all(record.photos.map((p) => new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve({ name: p.name, type: p.blob.type, buffer: reader.result });
        reader.readAsArrayBuffer(p.blob);
      })));
      return copy;
    }

    function withBlobs(record) {
      record.photos = (record.photos || []).map((p) => (p.buffer
        ? { name: p.name, blob: new Blob([p.buffer], { type: p.type || "image/jpeg" }) }
        : p));
      return record;
    }

    const memory = {};
    const outbox = {
      persistent: true,
      async put(record) {
        try {
          await inStore("readwrite", (s) => s.put(record));
          delete memory[record.key];
          return;
        } catch (e) { /* perhaps a Blob this browser cannot store: try the bytes */ }
        try {
          const copy = await withBuffers(record);
          await inStore("readwrite", (s) => s.put(copy));
          delete memory[record.key];
          return;
        } catch (e) { /* no IndexedDB at all (some private modes) */ }
        outbox.persistent = false;
        memory[record.key] = record;
      },
      async all() {
        let stored = [];
        try {
          stored = (await inStore("readonly", (s) => s.getAll())) || [];
        } catch (e) { /* no IndexedDB */ }
        const keys = stored.map((r) => r.key);
        const list = stored.map(withBlobs);
        Object.keys(memory).forEach((key) => { if (keys.indexOf(key) < 0) list.push(memory[key]); });
        return list.sort((a, b) => a.created - b.created);
      },
      async remove(key) {
        delete memory[key];
        try {
          await inStore("readwrite", (s) => s.delete(key));
        } catch (e) { /* no IndexedDB */ }
      },
    };
    return outbox;
  };
})();

/* The insight filter form: choosing another street clears the village and grid, another
 * village the grid, so the server narrows the lists from the new choice. No visible text. */
(() => {
  "use strict";
  const form = document.getElementById("i-filters");
  if (!form) return;
  form.querySelectorAll("select[data-clears]").forEach((select) => {
    select.addEventListener("change", () => {
      select.dataset.clears.split(" ").forEach((name) => {
        const finer = form.elements.namedItem(name);
        if (finer) finer.value = "";
      });
    });
  });
})();

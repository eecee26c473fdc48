// The activity form's place picker: the chosen village's map (drawn by the server, data in
// #village-maps); a tap on it moves the marker and fills the latitude and longitude, and
// "use my position" fills them from the phone. Choosing another village shows its map and
// puts the place at its centre.
(function () {
  "use strict";
  var lat = document.getElementById("id_lat");
  var lon = document.getElementById("id_lon");
  var area = document.getElementById("id_area");
  var box = document.getElementById("place-map");
  var data = document.getElementById("village-maps");
  var maps = data ? JSON.parse(data.textContent) : {};

  function marker() { return box && box.querySelector(".map-point"); }

  function place(la, lo) {
    lat.value = la.toFixed(6);
    lon.value = lo.toFixed(6);
    var m = maps[area.value], dot = marker();
    if (!m || !dot) return;
    var f = m.frame; // min_x, max_y, kx, pad, scale
    dot.setAttribute("cx", (((lo - f[0]) * f[2] + f[3]) * f[4]).toFixed(1));
    dot.setAttribute("cy", ((f[1] - la + f[3]) * f[4]).toFixed(1));
  }

  function show(recentre) {
    var m = maps[area.value];
    if (!box) return;
    box.innerHTML = m ? m.svg : "";
    var svg = box.querySelector("svg");
    if (!m || !svg) return;
    if (recentre) place(m.lat, m.lon);
    else if (lat.value && lon.value) place(parseFloat(lat.value), parseFloat(lon.value));
    svg.addEventListener("click", function (event) {
      var rect = svg.getBoundingClientRect();
      var size = svg.viewBox.baseVal.width || rect.width;
      var x = (event.clientX - rect.left) * size / rect.width;
      var y = (event.clientY - rect.top) * size / rect.height;
      var f = m.frame;
      place(f[1] - (y / f[4] - f[3]), f[0] + (x / f[4] - f[3]) / f[2]);
    });
  }

  if (area) {
    area.addEventListener("change", function () { show(true); });
    show(false);
  }
  var button = document.getElementById("use-position");
  if (!button) return;
  if (!navigator.geolocation) { button.hidden = true; return; }
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (pos) {
      place(pos.coords.latitude, pos.coords.longitude);
    }, function () {}, { enableHighAccuracy: true, timeout: 10000 });
  });
})();

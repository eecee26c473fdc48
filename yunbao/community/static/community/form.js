// The activity form: "use my position" fills the place's coordinates from the phone.
(function () {
  "use strict";
  var button = document.getElementById("use-position");
  if (!button || !navigator.geolocation) { if (button) button.hidden = true; return; }
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("id_lat").value = pos.coords.latitude.toFixed(6);
      document.getElementById("id_lon").value = pos.coords.longitude.toFixed(6);
    }, function () {}, { enableHighAccuracy: true, timeout: 10000 });
  });
})();

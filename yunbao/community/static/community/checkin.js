// The check-in form of an activity with a check-in radius: fill in the phone's position
// before sending, so the server can check the volunteer is there. Without geolocation (or
// when refused) the form is sent without it and the server says why it refuses.
(function () {
  "use strict";
  var form = document.getElementById("checkin-form");
  if (!form || !navigator.geolocation) return;
  var sending = false;
  form.addEventListener("submit", function (event) {
    if (sending) return;
    event.preventDefault();
    var send = function () { sending = true; form.submit(); };
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.elements.lat.value = pos.coords.latitude;
      form.elements.lon.value = pos.coords.longitude;
      form.elements.accuracy.value = Math.round(pos.coords.accuracy || 0);
      send();
    }, send, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
})();

// The condition form: choosing an office as the centre of the permitted area copies its
// coordinates into the latitude and longitude fields (which stay editable), and the day
// boxes are shown only for weekly schedules, the interval and the day of the month only for
// theirs.
(function () {
  "use strict";
  function ready() {
    var office = document.getElementById("id_area_office");
    var lat = document.getElementById("id_area_latitude");
    var lon = document.getElementById("id_area_longitude");
    if (office && lat && lon) {
      office.addEventListener("change", function () {
        var option = office.options[office.selectedIndex];
        if (option && option.dataset.latitude) {
          lat.value = option.dataset.latitude;
          lon.value = option.dataset.longitude;
        }
      });
    }
    var schedule = document.getElementById("id_schedule");
    var rows = { weekly: "weekdays", every_n_days: "interval_days", monthly: "day_of_month" };
    function showNeeded() {
      Object.keys(rows).forEach(function (kind) {
        var row = document.querySelector(".field-" + rows[kind]);
        if (row) { row.style.display = schedule.value === kind ? "" : "none"; }
      });
    }
    if (schedule) {
      schedule.addEventListener("change", showNeeded);
      showNeeded();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();

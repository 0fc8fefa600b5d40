// The good deed form: the phone's location (WGS-84, from the browser) filled in before it is sent.
const where = document.getElementById("deed-where");
const submit = document.getElementById("deed-submit");

function located(position) {
  const { latitude, longitude, accuracy } = position.coords;
  document.getElementById("deed-lat").value = latitude.toFixed(6);
  document.getElementById("deed-lon").value = longitude.toFixed(6);
  document.getElementById("deed-accuracy").value = Math.round(accuracy);
  where.textContent = `已定位（±${Math.round(accuracy)} 米）`;
  submit.disabled = false;
}

function failed() {
  where.textContent = "无法定位：请允许本页使用位置后重试";
  submit.disabled = true;
}

if (navigator.geolocation) {
  submit.disabled = true;
  navigator.geolocation.getCurrentPosition(located, failed, { enableHighAccuracy: true, timeout: 15000 });
} else {
  failed();
}
document.getElementById("deed-form").dataset.ready = "1";

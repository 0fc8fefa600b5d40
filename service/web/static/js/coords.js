/* WGS-84 ⇄ GCJ-02, the offset Chinese map tiles (高德, 腾讯) are drawn in: the published forward formula (Krasovsky
   ellipsoid) and its inverse by iteration, as prcoords' "bored" forms (service/geo.py uses prcoords): within a
   millimetre of it, where a one-step inverse is off by 1-2 m. Outside China neither system shifts anything. */

const A = 6378245.0, EE = 0.00669342162296594323;
const EPS_DEG = 1e-10, MAX_STEPS = 10;

/** True inside the box GCJ-02 applies to (prcoords' sanity_in_china_p). */
export function inChina(lat, lon) {
  return lat >= 0.8293 && lat <= 55.8271 && lon >= 72.004 && lon <= 137.8347;
}

/** A WGS-84 point as GCJ-02 tiles draw it: [lat, lon]. */
export function wgsToGcj(lat, lon) {
  if (!inChina(lat, lon)) { return [lat, lon]; }
  const x = lon - 105, y = lat - 35;
  const waves = 2 * Math.sin(x * 6 * Math.PI) + 2 * Math.sin(x * 2 * Math.PI);
  // the shifts in metres along the meridian and the parallel
  const dLatM = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
    (waves + 2 * Math.sin(y * Math.PI) + 4 * Math.sin(y / 3 * Math.PI) + 16 * Math.sin(y / 12 * Math.PI) +
     32 * Math.sin(y / 30 * Math.PI)) * 20 / 3;
  const dLonM = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
    (waves + 2 * Math.sin(x * Math.PI) + 4 * Math.sin(x / 3 * Math.PI) + 15 * Math.sin(x / 12 * Math.PI) +
     30 * Math.sin(x / 30 * Math.PI)) * 20 / 3;
  const rad = lat * Math.PI / 180, magic = 1 - EE * Math.sin(rad) ** 2;
  const metresPerDegLat = (A * (1 - EE)) / magic ** 1.5 * Math.PI / 180;
  const metresPerDegLon = A * Math.cos(rad) / Math.sqrt(magic) * Math.PI / 180;
  return [lat + dLatM / metresPerDegLat, lon + dLonM / metresPerDegLon];
}

/** A point on GCJ-02 tiles back in WGS-84: [lat, lon], the forward formula's fixed point. */
export function gcjToWgs(lat, lon) {
  if (!inChina(lat, lon)) { return [lat, lon]; }
  const first = wgsToGcj(lat, lon);
  let wLat = 2 * lat - first[0], wLon = 2 * lon - first[1];  // the one-step inverse, off by a metre or two
  for (let i = 0; i < MAX_STEPS; i++) {
    const there = wgsToGcj(wLat, wLon), dLat = there[0] - lat, dLon = there[1] - lon;
    wLat -= dLat;
    wLon -= dLon;
    if (Math.abs(dLat) < EPS_DEG && Math.abs(dLon) < EPS_DEG) { break; }
  }
  return [wLat, wLon];
}

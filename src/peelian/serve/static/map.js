// The map page and the profile's mini map: Leaflet over the force's own area
// boundaries (no tile server). Data from the JSON API with the session cookie.
(function () {
  "use strict";
  // Leaflet puts a string tooltip in as HTML: give it a text node instead.
  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }
  function baseMap(el) {
    var map = L.map(el, { zoomSnap: 0.5, attributionControl: false });
    return fetch("/map/boundaries.geojson", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { type: "FeatureCollection", features: [] }; })
      .then(function (geo) {
        var layer = L.geoJSON(geo, {
          style: { color: "#505a5f", weight: 1, fillColor: "#ffffff", fillOpacity: 0.6 },
          onEachFeature: function (f, l) {
            var p = f.properties || {};
            if (p.name) { l.bindTooltip(text(String(p.name) + (p.beat ? " (" + p.beat + ")" : ""))); }
          }
        }).addTo(map);
        return { map: map, bounds: geo.features.length ? layer.getBounds() : null };
      });
  }
  function entityMap(el) {
    var points = JSON.parse(el.getAttribute("data-points") || "[]");
    baseMap(el).then(function (m) {
      var group = L.featureGroup();
      points.forEach(function (p) {
        L.circleMarker([p.lat, p.lon], { radius: 5, color: "#1d70b8", fillOpacity: 0.8 })
          .bindTooltip(text(p.label)).addTo(group);
      });
      group.addTo(m.map);
      if (points.length) { m.map.fitBounds(group.getBounds().pad(0.3), { maxZoom: 14 }); }
      else if (m.bounds) { m.map.fitBounds(m.bounds); }
      else { m.map.setView([54, -2.2], 10); }
    });
  }
  function crimeMap(el) {
    var status = document.getElementById("map-status");
    var form = document.getElementById("map-form");
    var params = new URLSearchParams(window.location.search);
    ["type", "since", "until"].forEach(function (k) {
      if (params.get(k)) { form.elements[k].value = params.get(k); }
    });
    var api = new URLSearchParams();
    var type = params.get("type");
    (type ? [type] : ["crime", "incident"]).forEach(function (t) { api.append("types", t); });
    if (params.get("since")) { api.set("since", params.get("since")); }
    if (params.get("until")) { api.set("until", params.get("until")); }
    api.set("limit", "1500");
    Promise.all([baseMap(el), fetch("/api/v1/events?" + api.toString(), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("the map data could not be loaded (" + r.status + ")"); } return r.json(); })])
      .then(function (both) {
        var m = both[0], data = both[1];
        // Set the view before adding the dots: a path added to a map with no view yet
        // is drawn when the view is set, after the boundaries, whose first polygon
        // would find the shared renderer not yet sized (Leaflet: "reading 'min'").
        if (data.points.length) { m.map.fitBounds(data.points.map(function (p) { return [p.lat, p.lon]; })); }
        else if (m.bounds) { m.map.fitBounds(m.bounds); }
        else { m.map.setView([54, -2.2], 10); }
        var top = data.hotspots.length ? data.hotspots[0].count : 1;
        data.hotspots.forEach(function (h) {
          // a hexagon shaded by its share of the busiest one
          var ring = h.boundary.map(function (c) { return [c[1], c[0]]; });
          L.polygon(ring, { color: "#d4351c", weight: 1, fillColor: "#d4351c", fillOpacity: 0.1 + 0.6 * (h.count / top) })
            .bindTooltip(text(h.count + " events in this hexagon")).addTo(m.map);
        });
        data.points.forEach(function (p) {
          L.circleMarker([p.lat, p.lon], { radius: 3, color: p.type === "crime" ? "#1d70b8" : "#00703c", fillOpacity: 0.7, weight: 1 })
            .bindTooltip(text(p.type + " " + (p.reference || "") + " " + (p.at || "").slice(0, 16))).addTo(m.map);
        });
        var kinds = Object.keys(data.by_type).map(function (k) { return k.replace("_", " ") + " " + data.by_type[k]; });
        status.textContent = data.total + " events (" + kinds.join(", ") + "); " + data.points.length + " latest shown as dots, " + data.hotspots.length + " hotspots.";
      })
      .catch(function (e) { status.textContent = String(e.message || e); });
  }
  var mini = document.getElementById("entity-map");
  if (mini) { entityMap(mini); }
  var full = document.getElementById("map");
  if (full) { crimeMap(full); }
})();

// The network explorer: Cytoscape.js over /api/v1/graph/neighbourhood and /graph/path.
(function () {
  "use strict";
  var el = document.getElementById("network");
  if (!el) { return; }
  var status = document.getElementById("network-status");
  var selectedBox = document.getElementById("network-selected");
  var expandButton = document.getElementById("expand");
  // offenders sized by harm (days of custody, log scale), everyone else by their records
  function size(n) {
    return n.data("harm") > 0 ? 18 + 8 * Math.log10(1 + n.data("harm")) : 14 + 6 * Math.sqrt(n.data("records") || 1);
  }
  var palette = ["#1d70b8", "#d4351c", "#00703c", "#f47738", "#4c2c92", "#b58840", "#d53880", "#28a197", "#85994b", "#6f72af"];
  var shapes = { person: "ellipse", vehicle: "rectangle", phone: "triangle", address: "diamond", organisation: "hexagon", location: "round-rectangle" };
  // Cytoscape adds a <style> for its container unless an element with this id is
  // already there; the CSP (style-src 'self') refuses it, and peelian.css has its rule.
  if (!document.getElementById("__________cytoscape_stylesheet")) {
    var marker = document.createElement("meta");
    marker.id = "__________cytoscape_stylesheet";
    document.head.appendChild(marker);
  }
  var cy = cytoscape({
    container: el,
    style: [
      { selector: "node", style: {
        "background-color": function (n) { return palette[n.data("community") % palette.length]; },
        "shape": function (n) { return shapes[n.data("type")] || "ellipse"; },
        "label": "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 3,
        "text-background-color": "#ffffff", "text-background-opacity": 0.85,
        "text-background-padding": "1px", "min-zoomed-font-size": 6,
        "width": size, "height": size } },
      { selector: "node[?focus]", style: { "border-width": 3, "border-color": "#0b0c0c" } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#ffdd00" } },
      // edge labels run along their edge, on white, and are left out when zoomed out so
      // far that they would only cover the nodes' names
      { selector: "edge", style: { "width": function (e) { return Math.min(1 + e.data("weight"), 8); }, "line-color": "#b1b4b6", "label": "data(label)", "font-size": 8, "color": "#505a5f", "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": "1px", "min-zoomed-font-size": 7, "curve-style": "bezier" } },
      { selector: ".path", style: { "line-color": "#d4351c", "border-color": "#d4351c", "border-width": 4, "width": 5 } }
    ],
    layout: { name: "preset" }
  });
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.detail || ("error " + r.status)); }
        return body;
      });
    });
  }
  function add(data) {
    data.nodes.forEach(function (n) {
      var existing = cy.getElementById(n.id);
      if (existing.length) { existing.data(n); } else { cy.add({ group: "nodes", data: n }); }
    });
    data.edges.forEach(function (e) {
      var id = e.source + "~" + e.target;
      if (!cy.getElementById(id).length) {
        cy.add({ group: "edges", data: { id: id, source: e.source, target: e.target, weight: e.weight,
          label: Object.keys(e.relations).join(", ").toLowerCase().replace(/_/g, " ") } });
      }
    });
    cy.layout({ name: "cose", animate: false, nodeRepulsion: 8000 }).run();
    status.textContent = cy.nodes().length + " entities, " + cy.edges().length + " links" + (data.truncated ? " (the neighbourhood was cut at its size limit)" : "") + ".";
  }
  function expand(ids, depth) {
    var q = new URLSearchParams();
    ids.forEach(function (i) { q.append("ids", i); });
    if (depth) { q.append("depth", String(depth)); }
    status.textContent = "Loading…";
    return get("/api/v1/graph/neighbourhood?" + q.toString()).then(add).catch(function (e) { status.textContent = e.message; });
  }
  function show(node) {
    selectedBox.textContent = "";
    if (!node) { expandButton.disabled = true; return; }
    expandButton.disabled = false;
    var a = document.createElement("a");
    a.className = "govuk-link";
    a.href = "/entities/" + encodeURIComponent(node.id());
    a.textContent = node.data("label") + " (" + node.data("type") + " " + node.id() + ")";
    selectedBox.appendChild(a);
  }
  cy.on("select", "node", function (e) { show(e.target); });
  cy.on("unselect", "node", function () { show(cy.$("node:selected")[0]); });
  cy.on("dbltap", "node", function (e) { expand([e.target.id()]); });
  expandButton.addEventListener("click", function () {
    var ids = cy.$("node:selected").map(function (n) { return n.id(); });
    if (ids.length) { expand(ids); }
  });
  document.getElementById("path").addEventListener("click", function () {
    var from = cy.$("node:selected")[0];
    var to = document.getElementById("path-to").value.trim().toUpperCase();
    if (!from || !to) { status.textContent = "Select an entity and give the id to reach."; return; }
    get("/api/v1/graph/path?from=" + encodeURIComponent(from.id()) + "&to=" + encodeURIComponent(to)).then(function (p) {
      if (!p.found) { status.textContent = "No chain of up to 4 links you may see joins them."; return; }
      var ids = p.steps.map(function (s) { return s.id; });
      return expand(ids.slice(0, 20)).then(function () {
        cy.elements().removeClass("path");
        for (var i = 0; i < ids.length; i++) {
          cy.getElementById(ids[i]).addClass("path");
          if (i) { cy.edges("[source = '" + ids[i - 1] + "'][target = '" + ids[i] + "'], [source = '" + ids[i] + "'][target = '" + ids[i - 1] + "']").addClass("path"); }
        }
        status.textContent = "Path of " + p.hops + " links: " + p.steps.map(function (s) { return s.label; }).join(" → ");
      });
    }).catch(function (e) { status.textContent = e.message; });
  });
  var start = (el.getAttribute("data-ids") || "").split(/\s+/).filter(Boolean);
  if (start.length) { expand(start, el.getAttribute("data-depth") === "2" ? 2 : 1); }
})();

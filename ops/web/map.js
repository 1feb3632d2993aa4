// The ridematch live map: one city's H3 surge cells, drivers (busy, available, or holding
// an offer), waiting requests and recent matches, drawn on a canvas from /api/snapshot and then from each server-sent event on
// /events. No library, no tiles, nothing from anywhere but this server.
(function () {
  "use strict";

  var canvas = document.getElementById("map");
  var ctx = canvas.getContext("2d");
  var picker = document.getElementById("city");
  var statusEl = document.getElementById("status");
  var emptyEl = document.getElementById("empty");
  var tip = document.getElementById("tip");

  // Surge colours, from 1.0 (no surge) to the default cap, 3.0.
  var STOPS = [
    [1.0, [64, 160, 120]],
    [1.25, [200, 215, 90]],
    [1.5, [250, 200, 80]],
    [2.0, [245, 130, 60]],
    [3.0, [200, 40, 60]]
  ];

  // Drivers by state, the third number of each of a snapshot's drivers, in drawing order:
  // the available ones over the busy, the offered (holding an offer they have not
  // answered) over both. The colours are map.css's.
  var DRIVER_STATES = [
    { state: 0, name: "busy", colour: "#a3adb8", radius: 2 },
    { state: 1, name: "available", colour: "#4fd1c5", radius: 2.2 },
    { state: 2, name: "offered", colour: "#e879f9", radius: 3 }
  ];

  var city = cityFromHash();
  var snap = null;
  var updates = 0;
  var source = null;
  var view = null; // {city, minLat, maxLat, minLng, maxLng}
  var drawn = []; // projected hexagons of the last draw, for the tooltip

  function cityFromHash() {
    var m = /city=([a-z0-9_-]+)/i.exec(location.hash);
    return m ? m[1] : "";
  }

  function colour(m, alpha) {
    var c = STOPS[STOPS.length - 1][1];
    if (m <= STOPS[0][0]) {
      c = STOPS[0][1];
    } else {
      for (var i = 1; i < STOPS.length; i++) {
        if (m <= STOPS[i][0]) {
          var a = STOPS[i - 1], b = STOPS[i];
          var t = (m - a[0]) / (b[0] - a[0]);
          c = [0, 1, 2].map(function (k) { return Math.round(a[1][k] + t * (b[1][k] - a[1][k])); });
          break;
        }
      }
    }
    return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + alpha + ")";
  }

  function legend() {
    var el = document.getElementById("legend");
    [1.0, 1.25, 1.5, 2.0, 2.5, 3.0].forEach(function (m) {
      var d = document.createElement("div");
      d.style.background = colour(m, 1);
      d.textContent = m.toFixed(m === 1.25 ? 2 : 1) + (m === 3.0 ? "+" : "");
      el.appendChild(d);
    });
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function load() {
    if (source) {
      source.close();
      source = null;
    }
    setStatus("connecting", "loading…");
    fetch("/api/snapshot" + (city ? "?city=" + encodeURIComponent(city) : ""), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status + " " + r.statusText); }
        return r.json();
      })
      .then(function (s) {
        city = s.city;
        apply(s);
        follow();
      })
      .catch(function (e) {
        setStatus("error", "cannot load the map: " + e.message + "; retrying");
        setTimeout(load, 2000);
      });
  }

  // follow takes live updates: each server-sent event is a whole snapshot.
  function follow() {
    source = new EventSource("/events?city=" + encodeURIComponent(city));
    source.onmessage = function (e) {
      var s = JSON.parse(e.data);
      if (s.city === city) { apply(s); }
    };
    // Each response carries one snapshot and ends; the browser comes back for the next
    // after the stream's retry, so an error here is the normal end of a response. Only a
    // silence says something is wrong.
  }

  var lastUpdate = Date.now();
  setInterval(function () {
    var quiet = (Date.now() - lastUpdate) / 1000;
    if (snap && quiet > 5) {
      setStatus("error", "no update for " + Math.round(quiet) + " s: is the engine's HTTP server up?");
    }
  }, 1000);

  function apply(s) {
    snap = s;
    updates++;
    lastUpdate = Date.now();
    if (!view || view.city !== s.city) { view = null; }
    fillPicker(s);
    draw();
    panel(s);
  }

  function fillPicker(s) {
    var names = s.cities.map(function (c) { return c.name; }).join(",");
    if (picker.dataset.names !== names) {
      picker.innerHTML = "";
      s.cities.forEach(function (c) {
        var o = document.createElement("option");
        o.value = c.name;
        picker.appendChild(o);
      });
      picker.dataset.names = names;
    }
    s.cities.forEach(function (c, i) {
      var o = picker.options[i];
      o.textContent = c.name + (c.drivers || c.pending ? " · " + c.drivers + " drivers" : "");
    });
    picker.value = s.city;
  }

  picker.addEventListener("change", function () {
    city = picker.value;
    location.hash = "city=" + city;
    view = null;
    load();
  });
  window.addEventListener("hashchange", function () {
    var c = cityFromHash();
    if (c && c !== city) { city = c; view = null; load(); }
  });

  // The view covers the city's places and everything seen since, and only grows, so the
  // map does not jump as data come and go.
  function extend(s) {
    var v = view || { city: s.city, minLat: 90, maxLat: -90, minLng: 180, maxLng: -180 };
    function add(p) {
      v.minLat = Math.min(v.minLat, p[0]); v.maxLat = Math.max(v.maxLat, p[0]);
      v.minLng = Math.min(v.minLng, p[1]); v.maxLng = Math.max(v.maxLng, p[1]);
    }
    s.places.forEach(function (p) { add(p.at); });
    s.cells.forEach(function (c) { c.b.forEach(add); });
    if (v.maxLat < v.minLat) { add(s.center); }
    view = v;
  }

  function projection(w, h) {
    var pad = 24;
    var lat0 = (view.minLat + view.maxLat) / 2;
    var k = Math.cos(lat0 * Math.PI / 180);
    var spanX = Math.max((view.maxLng - view.minLng) * k, 0.01);
    var spanY = Math.max(view.maxLat - view.minLat, 0.01);
    var scale = Math.min((w - 2 * pad) / spanX, (h - 2 * pad) / spanY);
    var cx = (view.minLng + view.maxLng) / 2, cy = lat0;
    return function (p) {
      return [w / 2 + (p[1] - cx) * k * scale, h / 2 - (p[0] - cy) * scale];
    };
  }

  function draw() {
    var s = snap;
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 800, h = canvas.clientHeight || 600;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#0f1419";
    ctx.fillRect(0, 0, w, h);
    extend(s);
    var xy = projection(w, h);
    var counts = { hexagons: 0, surging: 0, drivers: 0, offered: 0, pending: 0, matches: 0 };

    // Cells: every surge-resolution cell with drivers, requests or a price.
    drawn = [];
    s.cells.forEach(function (c) {
      var pts = c.b.map(xy);
      ctx.beginPath();
      pts.forEach(function (p, i) { if (i) { ctx.lineTo(p[0], p[1]); } else { ctx.moveTo(p[0], p[1]); } });
      ctx.closePath();
      ctx.fillStyle = colour(c.m, c.m > 1 ? 0.62 : 0.22);
      ctx.fill();
      ctx.strokeStyle = c.m > 1 ? colour(c.m, 0.95) : "rgba(120,140,160,0.35)";
      ctx.lineWidth = 1;
      ctx.stroke();
      drawn.push({ cell: c, pts: pts });
      counts.hexagons++;
      if (c.m > 1) { counts.surging++; }
    });

    // Recent matches: a line from where the driver was to the pickup, fading with age.
    var window_ = (s.totals.window_seconds || 300);
    s.matches.forEach(function (m) {
      var a = xy([m[0], m[1]]), b = xy([m[2], m[3]]);
      var alpha = Math.max(0.12, 1 - m[4] / window_);
      ctx.strokeStyle = "rgba(255,255,255," + (0.75 * alpha).toFixed(3) + ")";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
      ctx.fillStyle = "rgba(255,255,255," + alpha.toFixed(3) + ")";
      ctx.fillRect(b[0] - 1.5, b[1] - 1.5, 3, 3);
      counts.matches++;
    });

    // Drivers, a layer per state.
    DRIVER_STATES.forEach(function (st) {
      ctx.fillStyle = st.colour;
      s.drivers.forEach(function (d) {
        if (d[2] !== st.state) { return; }
        var p = xy(d);
        ctx.beginPath();
        ctx.arc(p[0], p[1], st.radius, 0, 2 * Math.PI);
        ctx.fill();
        counts.drivers++;
        if (st.name === "offered") { counts.offered++; }
      });
    });

    // Waiting requests.
    ctx.strokeStyle = "#ffb347";
    ctx.lineWidth = 2;
    s.pending.forEach(function (q) {
      var p = xy(q);
      ctx.beginPath();
      ctx.arc(p[0], p[1], 5, 0, 2 * Math.PI);
      ctx.stroke();
      counts.pending++;
    });

    // Place names, for bearings without map tiles.
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    s.places.forEach(function (pl) {
      var p = xy(pl.at);
      ctx.fillStyle = "rgba(216,222,230,0.55)";
      ctx.fillRect(p[0] - 1.5, p[1] - 1.5, 3, 3);
      ctx.fillText(pl.name.replace(/_/g, " "), p[0] + 5, p[1]);
    });
    scaleBar(xy, w, h);

    var empty = s.totals.drivers === 0 && s.pending.length === 0 && s.cells.length === 0;
    Object.keys(counts).forEach(function (k) { canvas.dataset[k] = counts[k]; });
    canvas.dataset.updates = updates;
    canvas.dataset.seq = s.seq;
    canvas.dataset.moving = s.totals.moving;
    canvas.dataset.city = s.city;
    canvas.dataset.state = empty ? "empty" : "live";
    emptyState(s, empty);
  }

  function scaleBar(xy, w, h) {
    // 5 km at the view's centre latitude.
    var lat = (view.minLat + view.maxLat) / 2, lng = (view.minLng + view.maxLng) / 2;
    var dLng = 5 / (111.32 * Math.cos(lat * Math.PI / 180));
    var a = xy([lat, lng]), b = xy([lat, lng + dLng]);
    var len = b[0] - a[0];
    ctx.strokeStyle = "rgba(216,222,230,0.7)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(16, h - 16);
    ctx.lineTo(16 + len, h - 16);
    ctx.stroke();
    ctx.fillStyle = "rgba(216,222,230,0.7)";
    ctx.fillText("5 km", 20 + len, h - 16);
  }

  function emptyState(s, empty) {
    if (!empty) {
      emptyEl.hidden = true;
      return;
    }
    emptyEl.hidden = false;
    var why = s.status === "reading"
      ? "Nothing on driver-locations, ride-requests or surge-pricing for " + escapeHTML(s.city) +
        " lately. Start a load beside the engine, for example <code>ridematch simulate --city " + escapeHTML(s.city) + "</code>."
      : "The map's reader is " + escapeHTML(s.status) + ".";
    emptyEl.innerHTML = "<strong>No data for " + escapeHTML(s.city) + " yet.</strong><br>" + why;
  }

  function escapeHTML(t) {
    return String(t).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function panel(s) {
    var t = s.totals;
    var rows = [
      ["drivers", t.available + " available / " + t.drivers],
      ["offered a ride", t.offered],
      ["moving (5 s)", t.moving],
      ["waiting requests", t.pending],
      ["matched (" + Math.round(t.window_seconds / 60) + " min)", t.matched],
      ["unmatched", t.unmatched],
      ["cancelled", t.cancelled],
      ["cells / surging", t.cells + " / " + t.surging],
      ["highest surge", "×" + t.max_m.toFixed(1)]
    ];
    if (s.sample > 1) { rows.push(["drivers shown", "1 in " + s.sample]); }
    var dl = document.getElementById("totals");
    dl.innerHTML = rows.map(function (r) {
      return "<dt>" + r[0] + "</dt><dd>" + escapeHTML(r[1]) + "</dd>";
    }).join("");

    var regions = s.regions.slice().sort(function (a, b) {
      return (b.drivers + b.pending) - (a.drivers + a.pending) || (a.id < b.id ? -1 : 1);
    }).slice(0, 14);
    document.querySelector("#regions tbody").innerHTML = regions.map(function (r) {
      return "<tr><td title=\"" + r.id + "\">" + r.id.slice(0, 7) + "</td><td>" + r.partition + "</td><td>" +
        r.available + "/" + r.drivers + "</td><td>" + r.pending + "</td><td>" + r.matched + "</td><td>" +
        r.unmatched + "</td><td>×" + r.max_m.toFixed(1) + "</td></tr>";
    }).join("");

    var when = new Date(s.time).toLocaleTimeString();
    var engine = s.ready ? "engine ready" : "engine not ready";
    if (s.status !== "reading") {
      setStatus("connecting", s.status);
    } else {
      setStatus(canvas.dataset.state === "empty" ? "empty" : "live", "live · " + when + " · " + engine);
    }
  }

  canvas.addEventListener("mousemove", function (e) {
    var r = canvas.getBoundingClientRect();
    var x = e.clientX - r.left, y = e.clientY - r.top;
    for (var i = drawn.length - 1; i >= 0; i--) {
      if (inside(drawn[i].pts, x, y)) {
        var c = drawn[i].cell;
        tip.textContent = c.id + "\nsurge ×" + c.m.toFixed(2) +
          (c.priced ? "  (demand " + c.demand + ", supply " + c.supply + ")" : "  (no surge event)") +
          "\ndrivers " + c.available + " available, " + c.offered + " offered / " + c.drivers + "\nwaiting " + c.pending;
        tip.style.left = (x + 14) + "px";
        tip.style.top = (y + 14) + "px";
        tip.hidden = false;
        return;
      }
    }
    tip.hidden = true;
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });

  function inside(pts, x, y) {
    var c = false;
    for (var i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      if ((pts[i][1] > y) !== (pts[j][1] > y) &&
          x < (pts[j][0] - pts[i][0]) * (y - pts[i][1]) / (pts[j][1] - pts[i][1]) + pts[i][0]) {
        c = !c;
      }
    }
    return c;
  }

  window.addEventListener("resize", function () { if (snap) { draw(); } });

  legend();
  load();
})();
